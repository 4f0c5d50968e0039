"""Errors of the load engine: each message is one line naming the value, the bound and the fix."""

from __future__ import annotations

from fixtures.errors import HarnessError


class LoadPlanError(HarnessError, ValueError):
    """A load plan that must not run: nothing is sent."""


class LoadRunError(HarnessError):
    """The load child failed, or was killed at its deadline."""


class GateError(HarnessError):
    """A gate that cannot be judged: it names a metric, percentile, scenario or route that
    does not exist. An error, never a pass."""


class CrossCheckError(HarnessError):
    """Prometheus could not be asked, or answered something that is not a query result."""
