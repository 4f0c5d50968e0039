"""Options, target profile and backend: resolved before any test, or the run stops.

A malformed profile, an unknown key, a missing secret or an unknown backend ends the run
with one `ERROR:` line (pytest's usage error) before collection. `destructive` tests are
skipped against a non-local target unless its profile sets `destructive = true`.

`plugins.settings.check_target` is the one validation of a run's profile and description:
pytest (here), the drill (`python -m drill`) and `python -m chaos` call it before they start
anything.
"""

from __future__ import annotations

import pytest

from fixtures.backend import choose_backend
from fixtures.errors import HarnessError
from fixtures.images import IMAGES_MEANING
from plugins.redaction import install
from plugins.settings import HarnessContext, check_target, resolve_settings

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
        f"reliability load generator: {context.profile.load.describe()}",
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
