"""Options, target profile and backend: resolved before any test, or the run stops.

A malformed profile, an unknown key, a missing secret or an unknown backend ends the run
with one `ERROR:` line (pytest's usage error) before collection. `destructive` tests are
skipped against a non-local target unless its profile sets `destructive = true`.

`check_target` is the one validation of a run's profile and description: pytest, the
drill (`python -m drill`) and `python -m chaos` call it before they start anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from alerting.errors import AlertRuleError
from alerting.induced import check_inducible
from fixtures.backend import choose_backend
from fixtures.errors import HarnessError, ProfileError
from fixtures.images import IMAGES_MEANING
from fixtures.profile import TargetProfile, load_profile
from fixtures.providers.registry import check_profile_services
from load.errors import LoadPlanError
from load.ids import IdRanges, read_id_file
from plugins.redaction import install, url_passwords
from plugins.settings import HarnessContext, RequestedSettings, resolve_settings, resolve_system
from system.loader import System, check_secrets

HARNESS_CONTEXT = pytest.StashKey[HarnessContext]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("reliability", "reliability harness")
    group.addoption(
        "--target",
        default=None,
        metavar="PROFILE",
        help="target profile: 'local' (default; the harness starts everything) or a TOML "
        "profile path. Env: RELIABILITY_TARGET.",
    )
    group.addoption(
        "--backend",
        default=None,
        metavar="NAME",
        help="how local services start: auto (default: containers if Docker answers, else "
        "native), containers, native. Env: RELIABILITY_BACKEND.",
    )
    group.addoption(
        "--dr-seed",
        default=None,
        metavar="N",
        help="replay the DR suites' randomized commit history N. Env: RELIABILITY_DR_SEED.",
    )
    group.addoption(
        "--system",
        default=None,
        metavar="DESCRIPTION",
        help="the system description: a name under scenarios/, a folder or a system.toml "
        "(default: the profile's [target] system, else the reference target's). "
        "Env: RELIABILITY_SYSTEM.",
    )
    group.addoption(
        "--set",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="override one key of the system description, e.g. "
        "workloads.quotes.duration=30s (repeatable). Env: RELIABILITY_SET (K=V;K=V).",
    )
    group.addoption(
        "--images",
        default=None,
        metavar="SET",
        help="images of the containers backend: official (default; pinned, pulled) or local "
        "(built here by scripts/images/build). Env: RELIABILITY_IMAGES.",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    try:
        requested = resolve_settings(
            config.getoption("--target"),
            config.getoption("--backend"),
            dr_seed_flag=config.getoption("--dr-seed"),
            images_flag=config.getoption("--images"),
            system_flag=config.getoption("--system"),
            set_flags=config.getoption("--set"),
        )
        checked = check_target(requested)
        install(checked.secrets)
        profile, system = checked.profile, checked.system
        backend = choose_backend(requested.backend, profile.is_local, requested.backend_source)
    except (HarnessError, ValueError) as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[HARNESS_CONTEXT] = HarnessContext(
        profile, backend, requested.dr_seed, requested.images, system
    )


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
        check_inducible(profile.alerts_induce, None if system is None else system.description)
    except AlertRuleError as error:
        raise ProfileError(f"target profile {profile.describe()}: {error}") from None
    # `[chaos] allow`'s fault kinds, URLs and ports: the profile's model (load_profile).


def pytest_report_header(config: pytest.Config) -> list[str]:
    context = config.stash.get(HARNESS_CONTEXT, None)
    if context is None:
        return []
    return [
        f"reliability target: {context.profile.describe()}",
        f"reliability system: {context.system.describe()}",
        f"reliability backend: {context.backend.backend.value} ({context.backend.reason})",
        f"reliability images (containers): {context.images.value} "
        f"({IMAGES_MEANING[context.images]})",
    ]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("destructive") is None:
        return
    profile = item.config.stash[HARNESS_CONTEXT].profile
    if not profile.is_local and not profile.destructive:
        pytest.skip(
            f"destructive test refused against target {profile.describe()}: "
            "set destructive = true under [target] in its profile to allow it"
        )
