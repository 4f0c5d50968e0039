"""The harness's settings, resolved once per run into a frozen dataclass.

Precedence, highest first: command-line flag, environment variable, default.

| setting | flag        | environment variable  | default |
|---------|-------------|-----------------------|---------|
| target  | --target    | RELIABILITY_TARGET    | local   |
| backend | --backend   | RELIABILITY_BACKEND   | auto    |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from fixtures.backend import BackendChoice
from fixtures.profile import LOCAL, TargetProfile

DEFAULT_BACKEND = "auto"


@dataclass(frozen=True)
class RequestedSettings:
    target: str
    backend: str


def resolve_settings(
    target_flag: str | None, backend_flag: str | None, environ: Mapping[str, str] = os.environ
) -> RequestedSettings:
    target = target_flag if target_flag is not None else environ.get("RELIABILITY_TARGET", LOCAL)
    backend = (
        backend_flag
        if backend_flag is not None
        else environ.get("RELIABILITY_BACKEND", DEFAULT_BACKEND)
    )
    return RequestedSettings(target=target, backend=backend)


@dataclass(frozen=True)
class HarnessContext:
    """What every fixture needs to know about this run."""

    profile: TargetProfile
    backend: BackendChoice
