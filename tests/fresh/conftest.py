"""`fresh` tests run only when `-m` names them (`make fresh`): `make test` leaves them out."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "fresh" in (config.option.markexpr or ""):
        return
    fresh = [item for item in items if item.get_closest_marker("fresh") is not None]
    if fresh:
        config.hook.pytest_deselected(items=fresh)
        items[:] = [item for item in items if item.get_closest_marker("fresh") is None]
