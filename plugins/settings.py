"""The harness's settings, resolved once per run into a frozen dataclass.

Precedence, highest first: command-line flag, environment variable, default.

| setting | flag        | environment variable  | default |
|---------|-------------|-----------------------|---------|
| target  | --target    | RELIABILITY_TARGET    | local   |
| backend | --backend   | RELIABILITY_BACKEND   | auto    |
| DR seed | --dr-seed   | RELIABILITY_DR_SEED   | random  |
| images  | --images    | RELIABILITY_IMAGES    | official (containers backend) |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from fixtures.backend import BackendChoice
from fixtures.images import DEFAULT_IMAGES, ImageSet, parse_images
from fixtures.profile import LOCAL, TargetProfile

DEFAULT_BACKEND = "auto"


@dataclass(frozen=True)
class RequestedSettings:
    target: str
    backend: str
    backend_source: str = "--backend"  # which name gave it, for the error message
    dr_seed: int | None = None
    images: ImageSet = ImageSet.OFFICIAL


def resolve_settings(
    target_flag: str | None,
    backend_flag: str | None,
    environ: Mapping[str, str] = os.environ,
    dr_seed_flag: str | None = None,
    images_flag: str | None = None,
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
    return RequestedSettings(target, backend, source, _seed(dr_seed_flag, environ), images)


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
