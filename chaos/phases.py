"""A Chaos Toolkit control: each part of an experiment run is a phase (`fixtures/phases.py`).

Added to every experiment `chaos.experiments.run` plays: the steady state before, the
method (each action and probe: inject, verify, remove), the rollbacks and the steady
state after become Allure steps in the test's report.
"""

from __future__ import annotations

from typing import Any

from fixtures.phases import OpenPhases

CONTROL = {"name": "harness-phases", "provider": {"type": "python", "module": "chaos.phases"}}
OPEN = OpenPhases()
_hypotheses = {"count": 0}


def before_experiment_control(context: Any, **_: Any) -> None:
    OPEN.close_all()
    _hypotheses["count"] = 0


def after_experiment_control(context: Any, **_: Any) -> None:
    OPEN.close_all()


def before_hypothesis_control(context: Any, **_: Any) -> None:
    _hypotheses["count"] += 1
    when = "before the method" if _hypotheses["count"] == 1 else "after the method"
    OPEN.begin(f"steady state {when}")


def after_hypothesis_control(context: Any, **_: Any) -> None:
    OPEN.end()


def before_method_control(context: Any, **_: Any) -> None:
    OPEN.begin("method: inject the fault and verify")


def after_method_control(context: Any, **_: Any) -> None:
    OPEN.end()


def before_rollback_control(context: Any, **_: Any) -> None:
    OPEN.begin("rollbacks")


def after_rollback_control(context: Any, **_: Any) -> None:
    OPEN.end()


def before_activity_control(context: Any, **_: Any) -> None:
    OPEN.begin(f"{context.get('type', 'activity')}: {context.get('name', '?')}")


def after_activity_control(context: Any, **_: Any) -> None:
    OPEN.end()
