"""The failover rehearsal (`dr/failover.py`): the primary lost under writes, its streaming
standby promoted, the target's database route re-pointed, its smoke checks run.

The system runs on a primary with the standby its description's `[dr.standby]` describes
(synchronous or not) on fresh stores of its own; the lost-write ledger writes through its
`[write_path]` and the standby's lag is sampled. At a random moment the primary is
SIGKILLed. Then the way back: the old primary rewound (`pg_rewind`) and rejoined as a
standby, the new primary SIGKILLed, the old one promoted; every write the failover kept
must read back. Rows: the failover's and the fail-back's RTO (detect, promote, repoint,
healthy) against the SLO's `rto`; the standby's lag before the failure against `rpo`
(pushed as the description's `[publish] replication_lag` gauge); the acknowledged writes
lost: against 0 for a synchronous standby, else their window against `rpo`, each named.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

import pytest

from dr.failover import Failover, rehearse_failover
from fixtures.launcher import ServiceLauncher
from fixtures.providers.base import HttpEndpoint
from fixtures.providers.toxiproxy import ToxiproxyEndpoint
from fixtures.pushgateway_client import publish
from plugins.criteria import Criteria
from plugins.dr import FreshStores
from plugins.evidence import attach_json, attach_text
from plugins.settings import HarnessContext

pytestmark = pytest.mark.destructive


@pytest.mark.drill  # the requirements' quarterly rehearsal; make test runs its negatives
@pytest.mark.criteria("failover_rto", "replication_lag")
def test_failover_to_the_standby_under_writes(
    dr_launcher: ServiceLauncher,
    toxiproxy: ToxiproxyEndpoint,
    api_factory: Callable[..., Any],
    recovery_stores: FreshStores,
    pushgateway: HttpEndpoint,
    harness_context: HarnessContext,
    criteria: Criteria,
) -> None:
    description = harness_context.system.description
    standby = description.dr.standby
    if standby is None:
        pytest.skip(f"{harness_context.system.describe()} has no [dr.standby]: no failover")
    if description.write_path is None:
        pytest.skip(f"{harness_context.system.describe()} has no [write_path]: no writes to count")
    with recovery_stores() as stores:
        failover = rehearse_failover(
            dr_launcher,
            toxiproxy,
            functools.partial(api_factory, **stores),
            description=description,
            synchronous=standby.synchronous,
            write_seconds=random.uniform(4.0, 8.0),  # noqa: S311 - a random moment
            fail_back=True,
        )
    attach_json("failover", failover.evidence())
    back = failover.back
    assert back is not None
    lines = (failover.describe_rto(), failover.describe_lag(), failover.describe_loss())
    for line in (*lines, back.describe()):
        attach_text("failover", line)
        print(line)
    _record(failover, harness_context, criteria)
    _publish_lag(failover, harness_context, pushgateway)
    assert all(result.passed for result in failover.smoke), failover.evidence()["smoke"]
    assert all(result.passed for result in back.smoke), [r.line() for r in back.smoke]
    slo = harness_context.slo
    assert failover.seconds <= slo.rto_seconds, failover.describe_rto()
    assert back.seconds <= slo.rto_seconds, back.describe()
    assert back.check.ok, back.describe()
    if standby.synchronous:
        assert failover.lost == 0, failover.describe_loss()
    else:
        assert failover.lost_window_seconds <= slo.rpo_seconds, failover.describe_loss()


def _record(failover: Failover, context: HarnessContext, criteria: Criteria) -> None:
    slo = context.slo
    mode = "synchronous" if failover.synchronous else "asynchronous"
    scope = f"postgres ({mode} standby promoted)"
    criteria.within(
        criterion="failover_rto",
        scope=scope,
        bound=slo.rto_seconds,
        unit="s",
        measured=failover.seconds,
        database="postgres",
        **{f"{name}_s": round(seconds, 3) for name, seconds in failover.phases.items()},
    )
    criteria.within(
        criterion="replication_lag",
        scope=scope,
        bound=slo.rpo_seconds,
        unit="s",
        measured=failover.lag_before_failure,
        database="postgres",
        lag=failover.describe_lag(),
    )
    back = failover.back
    if back is not None:
        criteria.within(
            criterion="failover_rto",
            scope="postgres (fail back to the rewound old primary)",
            bound=slo.rto_seconds,
            unit="s",
            measured=back.seconds,
            database="postgres",
            rejoin_s=round(back.rejoin_seconds, 3),
            writes_kept=back.check.describe(),
            **{f"{name}_s": round(seconds, 3) for name, seconds in back.phases.items()},
        )
    lost = {"lost": failover.lost, "writes": failover.describe_loss(), "database": "postgres"}
    if failover.synchronous:
        criteria.within(
            criterion="failover_writes_lost",
            scope=scope,
            bound=0,
            unit="writes",
            measured=failover.lost,
            **lost,
        )
    else:
        criteria.within(
            criterion="failover_rpo",
            scope=scope,
            bound=slo.rpo_seconds,
            unit="s",
            measured=failover.lost_window_seconds,
            **lost,
        )


def _publish_lag(failover: Failover, context: HarnessContext, pushgateway: HttpEndpoint) -> None:
    """The lag before the failure, as the description's `[publish] replication_lag` gauge."""
    metric = context.system.description.publish.replication_lag
    lag = failover.lag_before_failure
    if metric is None or lag is None:
        line = f"the standby's lag is not pushed ({failover.describe_lag()}): " + (
            "the system description's [publish] names no replication_lag gauge"
            if metric is None
            else "no sample"
        )
        attach_text("not published", line)
        print(line)
        return
    help_text = "Replication lag of the standby before the last failover rehearsal"
    publish(pushgateway.url, metric, lag, {"database": "postgres"}, help_text=help_text)
