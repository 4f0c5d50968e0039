"""Recovery point and recovery time, measured after losing the primary (`dr/recovery.py`).

The system (its description's `[local]`, on fresh stores besides Postgres) runs on an
archiving primary; a probe record is created through its `[write_path]`, then a writer
commits a row every 50 ms and logs each acknowledgement. At a random moment the primary is
destroyed (SIGKILL, data directory removed). The harness detects it (the health check
stops answering healthy), restores the archive into a fresh Postgres to its latest point,
starts the system on it and waits until the health check answers healthy and the probe
record, written before the failure, reads back as written (without a `[write_path]`: the
health check only, and the rows say the data check was skipped and why).

RPO = last acknowledged write - newest write restored (<= the SLO's `rpo`; shown against
`archive_timeout`). RTO = failure -> healthy target, by phase (<= the SLO's `rto`). Both
are pushed to the Pushgateway as the description's `[publish]` gauges (design section 6)
and attached. The restored database must hold the described tables and schema version
(`dr.holdings`): a `schema_version` row.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dr.history import PR_GATE_ARCHIVE_TIMEOUT_SECONDS
from dr.holdings import expected_holdings
from dr.loss import RecoveryTime, publish_recovery, require_rpo, require_rto
from dr.recovery import LOCAL_ROWS_REQUIRED, Recovered, measure_recovery
from dr.report import extrapolate_rto, plot_fit, plot_rto, rto_table
from fixtures.launcher import ServiceLauncher
from fixtures.providers.base import HttpEndpoint
from fixtures.providers.s3 import S3Endpoint
from plugins.criteria import Criteria
from plugins.dr import FreshStores
from plugins.evidence import attach_file, attach_json, attach_text
from plugins.settings import HarnessContext

pytestmark = pytest.mark.destructive


def _measured(
    dr_launcher: ServiceLauncher,
    s3: S3Endpoint,
    api_factory: Callable[..., Any],
    recovery_stores: FreshStores,
    context: HarnessContext,
    **arguments: Any,
) -> Recovered:
    """One loss of the primary, the system on fresh stores of its own (`recovery_stores`)."""
    description = context.system.description
    expected = expected_holdings(description.dr, context.profile.dr)
    with recovery_stores() as stores:
        recovered = measure_recovery(
            dr_launcher,
            s3,
            functools.partial(api_factory, **stores),
            description=description,
            expected=expected,
            **arguments,
        )
    attach_json("recovery", recovered.evidence)
    print(f"{recovered.evidence['rto']}; recovered when {recovered.data_check}")
    return recovered


def _publish(
    pushgateway: HttpEndpoint, context: HarnessContext, rpo_seconds: float, rto_seconds: float
) -> None:
    """Pushed as the description's `[publish]` gauges; one it does not name, said so."""
    names = context.system.description.publish
    for line in publish_recovery(
        pushgateway.url, "postgres", rpo_seconds, rto_seconds, names=names
    ):
        attach_text("not published", line)
        print(line)


def _require_holdings(recovered: Recovered) -> None:
    holdings = recovered.holdings
    assert holdings is not None
    problems = holdings.problems(LOCAL_ROWS_REQUIRED)
    assert not problems, f"the restored database: {holdings.describe(LOCAL_ROWS_REQUIRED)}"


@pytest.mark.pr_gate
def test_rpo_and_rto_after_losing_the_primary(
    dr_launcher: ServiceLauncher,
    s3: S3Endpoint,
    api_factory: Callable[..., Any],
    recovery_stores: FreshStores,
    pushgateway: HttpEndpoint,
    harness_context: HarnessContext,
    criteria: Criteria,
) -> None:
    slo = harness_context.slo
    write_seconds = random.uniform(6.0, 12.0)  # noqa: S311 - a random moment, not security
    recovered = _measured(
        dr_launcher,
        s3,
        api_factory,
        recovery_stores,
        harness_context,
        megabytes=5,
        write_seconds=write_seconds,
    )
    point, recovery = recovered.point, recovered.time
    attach_text("RPO", point.describe())
    attach_text("RTO", recovery.describe())
    _publish(pushgateway, harness_context, point.seconds, recovery.seconds)
    scope = "postgres (primary lost)"
    rto_details: dict[str, Any] = {"recovered_when": recovered.data_check}
    for criterion, seconds, bound, details in (
        ("rpo", point.seconds, slo.rpo_seconds, {}),
        ("rto", recovery.seconds, slo.rto_seconds, rto_details),
    ):
        criteria.within(
            criterion=criterion,
            scope=scope,
            bound=bound,
            unit="s",
            measured=seconds,
            database="postgres",
            **details,
        )
    holdings = recovered.holdings
    assert holdings is not None
    criteria.record(scope=scope, database="postgres", **holdings.row(LOCAL_ROWS_REQUIRED))
    require_rpo(point, slo.rpo_seconds)
    require_rto(recovery, slo.rto_seconds)
    _require_holdings(recovered)
    # The bound that archiving itself implies: a segment is shipped every archive_timeout.
    assert point.seconds <= PR_GATE_ARCHIVE_TIMEOUT_SECONDS + 5.0, point.describe()


DRILL_SIZES_MB = (10, 100, 1000)


@pytest.mark.drill
@pytest.mark.criteria("rto")
def test_rto_by_database_size(
    dr_launcher: ServiceLauncher,
    s3: S3Endpoint,
    api_factory: Callable[..., Any],
    recovery_stores: FreshStores,
    pushgateway: HttpEndpoint,
    harness_context: HarnessContext,
    criteria: Criteria,
    tmp_path: Path,
) -> None:
    """The drill: RTO at 10 MB, 100 MB and 1 GB, with production's 60 s archive_timeout,
    a row per size, and extrapolated to the description's `[dr] production_size_gb`.

    The largest is lost at a random moment 60-120 s after its base backup, a random phase
    of the archive cycle: its RPO is the one measured at production's timeout (and
    pushed). The smaller ones are lost 6-12 s after theirs: their RTO is what they are
    for, and a minute and a half more of writes each would only repeat that RPO."""
    slo = harness_context.slo
    rows: list[tuple[int, RecoveryTime]] = []
    for megabytes in DRILL_SIZES_MB:
        largest = megabytes == DRILL_SIZES_MB[-1]
        window = (60.0, 120.0) if largest else (6.0, 12.0)
        recovered = _measured(
            dr_launcher,
            s3,
            api_factory,
            recovery_stores,
            harness_context,
            megabytes=megabytes,
            write_seconds=random.uniform(*window),  # noqa: S311 - a random moment
            archive_timeout_seconds=60.0,
        )
        point, recovery = recovered.point, recovered.time
        rows.append((megabytes, recovery))
        scope = f"postgres {megabytes} MB (primary lost)"
        measured = [("rto", recovery.seconds, slo.rto_seconds)]
        if largest:  # the RPO at production's archive_timeout (the smaller ones: see above)
            measured.append(("rpo", point.seconds, slo.rpo_seconds))
        for criterion, seconds, bound in measured:
            criteria.within(
                criterion=criterion,
                scope=scope,
                bound=bound,
                unit="s",
                measured=seconds,
                database="postgres",
                megabytes=megabytes,
            )
        require_rpo(point, slo.rpo_seconds)
        _require_holdings(recovered)
    attach_text("RTO by database size", rto_table(rows, slo.rto_seconds))
    attach_file("RTO by database size", plot_rto(rows, tmp_path / "rto-by-size.png"))
    _publish(pushgateway, harness_context, point.seconds, rows[-1][1].seconds)
    production_gb = harness_context.system.description.dr.production_size_gb
    production = None if production_gb is None else production_gb * 1000
    extrapolated = None if production is None else extrapolate_rto(rows, production)
    if extrapolated is not None:
        attach_text("RTO extrapolated", extrapolated.describe())
        fit = plot_fit(rows, extrapolated, slo.rto_seconds, tmp_path / "rto-fit.png")
        attach_file("RTO extrapolated", fit)
        # judged on the upper bound: a prediction under the bound whose envelope is over it
        # is not a pass
        criteria.record(
            criterion="rto",
            scope=f"postgres {production_gb:g} GB (extrapolated)",
            bound=slo.rto_seconds,
            unit="s",
            measured=extrapolated.seconds,
            interval=(extrapolated.seconds, extrapolated.upper_seconds),
            verdict="pass" if extrapolated.upper_seconds <= slo.rto_seconds else "fail",
            database="postgres",
            extrapolated_from_mb=list(DRILL_SIZES_MB),
            seconds_per_gb=extrapolated.seconds_per_gb,
            by_phase_s={
                name: round(value, 1) for name, value in extrapolated.phase_seconds.items()
            },
        )
    for _, recovery in rows:
        require_rto(recovery, slo.rto_seconds)
    if extrapolated is not None:
        assert extrapolated.upper_seconds <= slo.rto_seconds, extrapolated.describe()
