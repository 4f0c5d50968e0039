"""The failover rehearsal catches lost writes, and does not invent them (`dr/failover.py`).

Both run the rehearsal with the link between primary and standby cut for a few seconds
before the primary is SIGKILLed (the standby falls behind on purpose):

- asynchronous replication: the primary acknowledged writes the standby never received;
  after the failover they are missing, named, and their window covers the cut; the lag
  sampled on the standby grew with it. A description claiming a synchronous standby
  (`failover_writes_lost` against 0) fails on this one;
- synchronous replication: the primary held those commits (no acknowledgement without the
  standby), so nothing acknowledged is lost, and writes go on on the new primary.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from dr.failover import Failover, rehearse_failover
from fixtures.launcher import ServiceLauncher
from fixtures.providers.toxiproxy import ToxiproxyEndpoint
from plugins.dr import FreshStores
from plugins.settings import HarnessContext

pytestmark = pytest.mark.integration

CUT_SECONDS = 3.0


def _rehearse(
    synchronous: bool,
    dr_launcher: ServiceLauncher,
    toxiproxy: ToxiproxyEndpoint,
    api_factory: Callable[..., Any],
    recovery_stores: FreshStores,
    context: HarnessContext,
) -> Failover:
    with recovery_stores() as stores:
        failover = rehearse_failover(
            dr_launcher,
            toxiproxy,
            functools.partial(api_factory, **stores),
            description=context.system.description,
            synchronous=synchronous,
            write_seconds=2.0,
            forced_lag_seconds=CUT_SECONDS,
        )
    print(failover.describe_rto(), failover.describe_lag(), failover.describe_loss(), sep="\n")
    assert all(result.passed for result in failover.smoke), failover.evidence()["smoke"]
    return failover


def test_a_cut_off_standby_loses_acknowledged_writes_if_asynchronous_none_if_synchronous(
    dr_launcher: ServiceLauncher,
    toxiproxy: ToxiproxyEndpoint,
    api_factory: Callable[..., Any],
    recovery_stores: FreshStores,
    harness_context: HarnessContext,
) -> None:
    """Both rehearsals at once (each on stores, a pair and a target of its own): the
    assertions are on counts and on a window seconds wide, not on latency."""
    arguments = (dr_launcher, toxiproxy, api_factory, recovery_stores, harness_context)
    with ThreadPoolExecutor(max_workers=2) as pool:
        asynchronous = pool.submit(_rehearse, False, *arguments)
        synchronous = pool.submit(_rehearse, True, *arguments)
        cut_off, held = asynchronous.result(), synchronous.result()

    assert cut_off.lost >= 20, cut_off.describe_loss()  # ~3 s at 20 writes a second
    assert "lost: ledger-" in cut_off.describe_loss()
    assert CUT_SECONDS - 1.0 <= cut_off.lost_window_seconds <= CUT_SECONDS + 2.0
    lag = cut_off.lag_before_failure
    assert lag is not None, cut_off.describe_lag()
    assert lag >= CUT_SECONDS - 1.5, cut_off.describe_lag()

    assert held.lost == 0, held.describe_loss()
    assert held.check.counts.get("acknowledged", 0) > 0, held.describe_loss()
    assert held.lost_window_seconds == 0.0
