"""The reference target's system description, as the harness's own tests use it.

The harness's packages hold nothing of one system; tests of the reference target (and of
the engines, driven with the reference's workloads) take what they need from here.
"""

from __future__ import annotations

from pathlib import Path

from load.traffic import Traffic, traffic_of
from system.loader import DEFAULT_SYSTEM, System, load_system

REFERENCE: System = load_system(DEFAULT_SYSTEM)
DESCRIPTION = REFERENCE.description
EXPERIMENTS_DIR = Path(DESCRIPTION.chaos.experiments) if DESCRIPTION.chaos else Path()
RULES_DIR = Path(DESCRIPTION.alerts.rules) if DESCRIPTION.alerts else Path()
QUOTES: System = load_system("quotes")


def traffic(workload: str, ids: str | None = None) -> Traffic:
    """What the reference's `workload` sends (`ids`: the profile's ids, e.g. "1-500")."""
    return traffic_of(DESCRIPTION, workload).with_ids(ids, None)
