"""Errors of the chaos engine: each message is one line naming the problem and the fix."""

from __future__ import annotations

from fixtures.errors import FaultRefusedError, HarnessError

# Begins the message of what the harness could not measure (not the target's failure); the
# Allure category "Invalid runs" and a criterion's verdict `invalid` go by it.
INVALID_RUN = "invalid run"


class FaultSpecError(HarnessError, ValueError):
    """A fault that cannot be injected as given (unknown toxic, negative latency, ...):
    refused before anything is touched."""


class ExperimentError(HarnessError):
    """An experiment that cannot run: unknown name, a file Chaos Toolkit rejects, a
    configuration value missing."""


class HypothesisFailedError(AssertionError):
    """What the target claims did not hold: the message names the claim and the measure."""


__all__ = [
    "INVALID_RUN",
    "ExperimentError",
    "FaultRefusedError",
    "FaultSpecError",
    "HypothesisFailedError",
]
