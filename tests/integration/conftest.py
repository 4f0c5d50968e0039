"""Fixtures shared by the provider tests that drive the launcher directly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from fixtures.profile import local_profile


@pytest.fixture
def launcher() -> Iterator[ServiceLauncher]:
    """A native launcher of the test's own, closed (everything stopped) after the test."""
    launcher = ServiceLauncher(Backend.NATIVE, local_profile())
    try:
        yield launcher
    finally:
        launcher.close()
