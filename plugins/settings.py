"""The harness's settings, resolved once per run into a frozen dataclass.

Precedence, highest first: command-line flag, environment variable, default.

| setting | flag        | environment variable  | default |
|---------|-------------|-----------------------|---------|
| target  | --target    | RELIABILITY_TARGET    | local   |
| backend | --backend   | RELIABILITY_BACKEND   | auto    |
| DR seed | --dr-seed   | RELIABILITY_DR_SEED   | random  |
| images  | --images    | RELIABILITY_IMAGES    | official (containers backend) |
| system  | --system    | RELIABILITY_SYSTEM    | profile's [target] system, else intelgraph |
| overrides | --set K=V | RELIABILITY_SET (K=V;K=V) | none (repeatable flag) |

`check_target` validates the profile and the description they name, the one way pytest, the
drill and `python -m chaos` do. No pytest here: the commands import this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alerting.errors import AlertRuleError
from alerting.induced import check_inducible
from fixtures.backend import BackendChoice
from fixtures.errors import ProfileError
from fixtures.images import DEFAULT_IMAGES, ImageSet, parse_images
from fixtures.profile import LOCAL, Slo, TargetProfile, load_profile
from fixtures.providers.registry import check_profile_services
from load.errors import LoadPlanError
from load.ids import IdRanges, read_id_file
from system.loader import DEFAULT_SYSTEM, System, check_secrets, load_system

DEFAULT_BACKEND = "auto"


@dataclass(frozen=True)
class RequestedSettings:
    target: str
    backend: str
    backend_source: str = "--backend"  # which name gave it, for the error message
    dr_seed: int | None = None
    images: ImageSet = ImageSet.OFFICIAL
    system: str | None = None  # flag or environment; None: the profile's, else the default
    overrides: tuple[str, ...] = ()


def resolve_settings(
    target_flag: str | None,
    backend_flag: str | None,
    environ: Mapping[str, str] = os.environ,
    *,
    dr_seed_flag: str | None = None,
    images_flag: str | None = None,
    system_flag: str | None = None,
    set_flags: list[str] | None = None,
) -> RequestedSettings:
    """Flag, else environment, else default; `ValueError` (one line) for a bad DR seed."""
    target = target_flag if target_flag is not None else environ.get("RELIABILITY_TARGET", LOCAL)
    if backend_flag is not None:
        backend, source = backend_flag, "--backend"
    elif "RELIABILITY_BACKEND" in environ:
        backend, source = environ["RELIABILITY_BACKEND"], "RELIABILITY_BACKEND"
    else:
        backend, source = DEFAULT_BACKEND, "--backend"
    if images_flag is not None:
        images = parse_images(images_flag)
    else:
        raw = environ.get("RELIABILITY_IMAGES", DEFAULT_IMAGES)
        images = parse_images(raw, "RELIABILITY_IMAGES") if raw else ImageSet.OFFICIAL
    system = system_flag if system_flag is not None else environ.get("RELIABILITY_SYSTEM") or None
    if set_flags:
        overrides = tuple(set_flags)
    else:
        raw_set = environ.get("RELIABILITY_SET", "")
        overrides = tuple(part.strip() for part in raw_set.split(";") if part.strip())
    seed = _seed(dr_seed_flag, environ)
    return RequestedSettings(target, backend, source, seed, images, system, overrides)


def resolve_system(requested: RequestedSettings, profile: TargetProfile) -> System:
    """The description: the flag or environment, else the profile's `[target] system`
    (relative to the profile), else the reference target's; `DescriptionError` if bad."""
    if requested.system is not None:
        return load_system(requested.system, requested.overrides)
    if profile.system is not None:
        base = None if profile.source is None else profile.source.parent
        return load_system(profile.system, requested.overrides, relative_to=base)
    return load_system(DEFAULT_SYSTEM, requested.overrides)


def effective_slo(system: System, profile: TargetProfile) -> Slo:
    """The description's [slo], with the keys the profile's [slo] sets replacing them."""
    own = system.description.slo
    values = {
        "p95_seconds": own.p95,
        "error_rate": own.error_rate,
        "rpo_seconds": own.rpo,
        "rto_seconds": own.rto,
    }
    for key in profile.slo_given:
        values[key] = getattr(profile.slo, key)
    return Slo(**values)


def _seed(flag: str | None, environ: Mapping[str, str]) -> int | None:
    raw, name = (
        (flag, "--dr-seed")
        if flag is not None
        else (environ.get("RELIABILITY_DR_SEED"), "RELIABILITY_DR_SEED")
    )
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(
            f"{name}={raw!r} is not an integer: give the seed a DR run printed, or unset it"
        ) from None


@dataclass(frozen=True)
class HarnessContext:
    """What every fixture needs to know about this run."""

    profile: TargetProfile
    backend: BackendChoice
    dr_seed: int | None = None
    images: ImageSet = ImageSet.OFFICIAL
    system: System = field(default_factory=lambda: load_system(DEFAULT_SYSTEM))

    @property
    def slo(self) -> Slo:
        """The bounds of this run: the description's, as the profile's [slo] changes them."""
        return effective_slo(self.system, self.profile)


def url_passwords(values: Iterable[Any]) -> set[str]:
    """Passwords written into URLs (`scheme://user:password@host`)."""
    found = set()
    for value in values:
        if isinstance(value, str) and "://" in value:
            password = urlsplit(value).password
            if password:
                found.add(password)
    return found


@dataclass(frozen=True)
class CheckedTarget:
    """A profile and a description that passed every check, and the values to redact."""

    profile: TargetProfile
    system: System
    secrets: frozenset[str]


def check_target(requested: RequestedSettings) -> CheckedTarget:
    """The profile and the description the settings name, validated as every command does:
    the profile's model (shape, URLs, ports, fault kinds) and reader (secrets, files), each
    service's own parser, the engines' settings (ids, inducible alerts) and the description's
    secrets. `HarnessError` (one line: file, key, what was expected) before anything starts."""
    profile = load_profile(requested.target)
    system = resolve_system(requested, profile)
    check_profile_services(profile)
    check_engine_settings(profile, system)
    secrets = profile.secrets | url_passwords(_values(profile)) | check_secrets(system)
    return CheckedTarget(profile, system, frozenset(secrets))


def _values(profile: TargetProfile) -> list[object]:
    return [value for section in profile.services.values() for value in section.values()]


def check_engine_settings(profile: TargetProfile, system: System | None = None) -> None:
    """Profile values that the engines read, checked before any test (`ProfileError`)."""
    api = profile.services.get("api", {})
    if "entity_ids" in api and "entity_ids_file" in api:
        raise ProfileError(
            f"target profile {profile.describe()}: keys 'services.api.entity_ids' and "
            "'services.api.entity_ids_file' both given; keep one"
        )
    try:
        if "entity_ids" in api:
            IdRanges.parse(str(api["entity_ids"]))
        if "entity_ids_file" in api:
            read_id_file(Path(str(api["entity_ids_file"])))
    except LoadPlanError as error:
        raise ProfileError(
            f"target profile {profile.describe()}: key 'services.api.entity_ids': {error}"
        ) from None
    try:
        check_inducible(
            profile.alerts_induce,
            None if system is None else system.description,
            profile.chaos_allow,
            profile.hooks,
        )
    except AlertRuleError as error:
        raise ProfileError(f"target profile {profile.describe()}: {error}") from None
    # `[chaos] allow`'s fault kinds, URLs and ports: the profile's model (load_profile).
