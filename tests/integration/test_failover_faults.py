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
    native_launcher: ServiceLauncher,
    toxiproxy: ToxiproxyEndpoint,
    api_factory: Callable[..., Any],
    recovery_stores: FreshStores,
    context: HarnessContext,
) -> Failover:
    with recovery_stores() as stores:
        failover = rehearse_failover(
            native_launcher,
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


def test_an_asynchronous_standby_cut_off_loses_acknowledged_writes_named(
    native_launcher: ServiceLauncher,
    toxiproxy: ToxiproxyEndpoint,
    api_factory: Callable[..., Any],
    recovery_stores: FreshStores,
    harness_context: HarnessContext,
) -> None:
    failover = _rehearse(
        False, native_launcher, toxiproxy, api_factory, recovery_stores, harness_context
    )
    assert failover.lost >= 20, failover.describe_loss()  # ~3 s at 20 writes a second
    assert "lost: ledger-" in failover.describe_loss()
    assert CUT_SECONDS - 1.0 <= failover.lost_window_seconds <= CUT_SECONDS + 2.0
    lag = failover.lag_before_failure
    assert lag is not None, failover.describe_lag()
    assert lag >= CUT_SECONDS - 1.5, failover.describe_lag()


def test_a_synchronous_standby_cut_off_loses_no_acknowledged_write(
    native_launcher: ServiceLauncher,
    toxiproxy: ToxiproxyEndpoint,
    api_factory: Callable[..., Any],
    recovery_stores: FreshStores,
    harness_context: HarnessContext,
) -> None:
    failover = _rehearse(
        True, native_launcher, toxiproxy, api_factory, recovery_stores, harness_context
    )
    assert failover.lost == 0, failover.describe_loss()
    assert failover.check.counts.get("acknowledged", 0) > 0, failover.describe_loss()
    assert failover.lost_window_seconds == 0.0
