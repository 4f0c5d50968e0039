"""Options, target profile and backend: resolved before any test, or the run stops.

A malformed profile, an unknown key, a missing secret or an unknown backend ends the run
with one `ERROR:` line (pytest's usage error) before collection. `destructive` tests are
skipped against a non-local target unless its profile sets `destructive = true`.
"""

from __future__ import annotations

import pytest

from fixtures.backend import choose_backend
from fixtures.errors import HarnessError
from fixtures.profile import load_profile
from plugins.settings import HarnessContext, resolve_settings

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


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    requested = resolve_settings(config.getoption("--target"), config.getoption("--backend"))
    try:
        profile = load_profile(requested.target)
        backend = choose_backend(requested.backend, profile.is_local)
    except (HarnessError, ValueError) as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[HARNESS_CONTEXT] = HarnessContext(profile=profile, backend=backend)


def pytest_report_header(config: pytest.Config) -> list[str]:
    context = config.stash.get(HARNESS_CONTEXT, None)
    if context is None:
        return []
    return [
        f"reliability target: {context.profile.describe()}",
        f"reliability backend: {context.backend.backend.value} ({context.backend.reason})",
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
