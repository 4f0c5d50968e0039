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

Against a profile (`destructive = true` and its failover `[hooks]`) the environment's own
commands fail its primary, promote and re-point where it does not itself, and restore it
afterwards (`dr.failover.rehearse_profile_failover`); the same rows, the lag where the
profile names the standby (`[services.postgres] standby_dsn`), and a row of the writes the
failover kept that the restore lost (against 0).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

import pytest

from dr.errors import RecoveryTimedOutError
from dr.failover import Failover, rehearse_failover, rehearse_profile_failover
from fixtures.hooks import FAIL, RESTORE, HookError
from fixtures.launcher import ServiceLauncher
from fixtures.providers.api import ApiEndpoint
from fixtures.providers.base import HttpEndpoint
from fixtures.providers.postgres import standby_from_profile
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
    for line in (*_lines(failover), back.describe()):
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
    _assert_loss(failover, harness_context)


@pytest.mark.drill
@pytest.mark.exclusive  # the environment's database fails over: nothing else runs beside it
@pytest.mark.criteria("failover_rto", "replication_lag")
def test_failover_of_the_profiles_primary_under_writes(
    service_launcher: ServiceLauncher,
    api: ApiEndpoint,
    harness_context: HarnessContext,
    criteria: Criteria,
) -> None:
    profile, description = harness_context.profile, harness_context.system.description
    if profile.is_local:
        pytest.skip("against a profile only: locally, the test above fails a primary of its own")
    if FAIL not in profile.hooks:
        pytest.skip(
            f"{profile.describe()} has no [hooks] {FAIL} and {RESTORE}: the harness cannot "
            "fail a primary database it did not start"
        )
    if description.write_path is None:
        pytest.skip(f"{harness_context.system.describe()} has no [write_path]: no writes to count")
    section = profile.services.get("postgres")
    standby = standby_from_profile(section) if section is not None else None
    bound = harness_context.slo.rto_seconds
    failed = None
    try:
        failover = rehearse_profile_failover(
            profile,
            api.url,
            description=description,
            write_seconds=random.uniform(4.0, 8.0),  # noqa: S311 - a random moment
            bound_seconds=bound,
            standby=standby,
            reaper=service_launcher.reaper,
        )
    except (RecoveryTimedOutError, HookError) as error:
        criteria.within(
            criterion="failover_rto",
            scope="postgres (the environment's failover)",
            bound=bound,
            unit="s",
            measured=None,
            database="postgres",
            error=str(error),
        )
        failed = f"the failover of {profile.describe()}'s primary: {error}"
    if failed is not None:
        pytest.fail(failed, pytrace=False)
    attach_json("failover", failover.evidence())
    back = failover.back
    assert back is not None
    for line in (*_lines(failover), back.describe()):
        attach_text("failover", line)
        print(line)
    _record(failover, harness_context, criteria, standby_named=standby is not None)
    assert all(result.passed for result in failover.smoke), failover.evidence()["smoke"]
    assert failover.seconds <= bound, failover.describe_rto()
    _assert_loss(failover, harness_context)
    assert all(result.passed for result in back.smoke), [r.line() for r in back.smoke]
    assert back.check.ok, f"after [hooks] {RESTORE}: {back.describe()}"


def _lines(failover: Failover) -> tuple[str, ...]:
    return (failover.describe_rto(), failover.describe_lag(), failover.describe_loss())


def _assert_loss(failover: Failover, context: HarnessContext) -> None:
    if failover.synchronous:
        assert failover.lost == 0, failover.describe_loss()
    else:
        assert failover.lost_window_seconds <= context.slo.rpo_seconds, failover.describe_loss()


def _record(
    failover: Failover, context: HarnessContext, criteria: Criteria, *, standby_named: bool = True
) -> None:
    """The failover's rows; against a profile the way back is its `restore_primary`, whose
    row is the writes it lost, and the lag a skipped row where no standby is named."""
    slo = context.slo
    mode = "synchronous" if failover.synchronous else "asynchronous"
    local = context.profile.is_local
    scope = (
        f"postgres ({mode} standby promoted)" if local else "postgres (the environment's failover)"
    )
    phases = {f"{name}_s": round(seconds, 3) for name, seconds in failover.phases.items()}
    lost = {"lost": failover.lost, "writes": failover.describe_loss()}
    # criterion, scope, bound, unit, measured, details: each row against an upper bound
    rows: list[tuple[str, str, float, str, float | None, dict[str, Any]]] = [
        ("failover_rto", scope, slo.rto_seconds, "s", failover.seconds, phases),
        (
            ("failover_writes_lost", scope, 0, "writes", failover.lost, lost)
            if failover.synchronous
            else ("failover_rpo", scope, slo.rpo_seconds, "s", failover.lost_window_seconds, lost)
        ),
    ]
    if standby_named:
        lag = {"lag": failover.describe_lag()}
        rows.append(
            ("replication_lag", scope, slo.rpo_seconds, "s", failover.lag_before_failure, lag)
        )
    else:
        criteria.record(
            criterion="replication_lag",
            scope=scope,
            bound=slo.rpo_seconds,
            unit="s",
            measured=None,
            verdict="skipped",
            reason=f"{context.profile.describe()} names no [services.postgres] standby_dsn",
        )
    back = failover.back
    if back is not None and local:
        details = {
            "rejoin_s": round(back.rejoin_seconds, 3),
            "writes_kept": back.check.describe(),
            **{f"{name}_s": round(seconds, 3) for name, seconds in back.phases.items()},
        }
        scope_back = "postgres (fail back to the rewound old primary)"
        rows.append(("failover_rto", scope_back, slo.rto_seconds, "s", back.seconds, details))
    elif back is not None:
        details = {"restore_s": round(back.rejoin_seconds, 3), "writes": back.check.describe()}
        missing = len(back.check.lost) + len(back.check.changed)
        scope_back = f"postgres (after [hooks] {RESTORE})"
        rows.append(("failover_writes_lost", scope_back, 0, "writes", missing, details))
    for criterion, where, bound, unit, measured, more in rows:
        criteria.within(
            criterion=criterion,
            scope=where,
            bound=bound,
            unit=unit,
            measured=measured,
            database="postgres",
            **more,
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
