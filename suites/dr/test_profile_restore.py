"""Backup restoration tested, against a shared environment: its own archive, restored
locally (the environment's servers are never touched), and checked (`dr/staging.py`): the
tables a restore must hold, with rows (the profile's `[dr] tables`, else the system
description's), and the description's schema version, as a `schema_version` row.

Locally the DR suites prove PITR, RPO and RTO on archives of their own: these run
against a profile with a `[dr]` table only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dr.errors import DrInputError
from dr.holdings import expected_holdings
from dr.staging import (
    archive_of,
    login_of,
    marker_restored,
    profile_postgres,
    restore_and_check,
    write_marker,
)
from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from fixtures.profile import LOCAL, TargetProfile, load_profile
from plugins.criteria import Criteria
from plugins.evidence import attach_text
from plugins.settings import HarnessContext


@pytest.fixture
def restore_launcher(harness_context: HarnessContext) -> Iterator[ServiceLauncher]:
    """A launcher of local throwaway servers, for a restore of a profile's archive."""
    launcher = ServiceLauncher(Backend.NATIVE, load_profile(LOCAL))
    try:
        yield launcher
    finally:
        launcher.close()


def _work(launcher: ServiceLauncher) -> Path:
    """Under the launcher's root: the servers' user must reach the tool's wrapper scripts."""
    assert launcher.root is not None
    return launcher.root


def _profile_with_archive(context: HarnessContext) -> TargetProfile:
    profile = context.profile
    if profile.is_local:
        pytest.skip("against a profile's archive only: locally, test_pitr.py and test_recovery.py")
    if profile.dr is None:
        pytest.skip(f"{profile.describe()} has no [dr] table naming its backups")
    return profile


@pytest.mark.pr_gate
def test_the_newest_backup_restores_with_its_tables_and_a_measured_rpo(
    harness_context: HarnessContext,
    restore_launcher: ServiceLauncher,
    criteria: Criteria,
    tmp_path: Path,
) -> None:
    profile = _profile_with_archive(harness_context)
    assert profile.dr is not None
    failure = None
    try:
        tool = archive_of(profile, _work(restore_launcher) / "tool")
        primary = profile_postgres(profile)
        expected = expected_holdings(harness_context.system.description.dr, profile.dr)
        check = restore_and_check(
            restore_launcher, tool, expected, _work(restore_launcher), primary
        )
    except DrInputError as error:
        failure = str(error)
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    attach_text("restore of the profile's archive", check.describe())
    print(check.describe())
    slo, scope = harness_context.slo, "postgres archive"
    rto, rpo = check.rto_seconds, check.rpo_seconds
    phases: dict[str, Any] = {"phases": check.result.phases}
    for criterion, measured, bound, details in (
        ("rto", rto, slo.rto_seconds, phases),
        ("rpo", rpo, slo.rpo_seconds, {}),
    ):
        criteria.within(
            criterion=criterion,
            scope=scope,
            bound=bound,
            unit="s",
            measured=measured,
            **details,
        )
    holdings = check.holdings
    assert holdings is not None
    criteria.record(scope=scope, **holdings.row())
    assert not holdings.problems(), f"the restore lacks what it must hold: {check.describe()}"
    assert check.rto_seconds <= slo.rto_seconds, (
        f"RTO {check.rto_seconds:.0f} s > {slo.rto_seconds:g} s"
    )
    assert rpo is not None, "the restore replayed no transaction: the archive holds no WAL after it"
    assert rpo <= slo.rpo_seconds, (
        f"RPO {rpo:.0f} s > {slo.rpo_seconds:g} s: the archive lacks the primary's newest WAL "
        f"and its newest restorable commit is that old: {check.describe()}"
    )


@pytest.mark.pr_gate
@pytest.mark.criteria("pitr_exact")
def test_a_marker_written_now_is_in_a_restore_to_now(
    harness_context: HarnessContext,
    restore_launcher: ServiceLauncher,
    tmp_path: Path,
    criteria: Criteria,
) -> None:
    profile = _profile_with_archive(harness_context)
    assert profile.dr is not None
    if not (profile.destructive or profile.dr.write_markers):
        pytest.skip(
            f"writing a marker row is refused against {profile.describe()}: set "
            "[dr] write_markers = true (or [target] destructive = true) to allow it"
        )
    try:
        tool = archive_of(profile, _work(restore_launcher) / "tool")
        postgres = profile_postgres(profile)
    except DrInputError as error:
        pytest.fail(str(error), pytrace=False)
    marker = write_marker(postgres)
    restored = marker_restored(
        restore_launcher, tool, marker, _work(restore_launcher), login_of(postgres)
    )
    criteria.record(
        criterion="pitr_exact",
        scope="profile's postgres: a marker written now, restored to now",
        bound=0,
        unit="rows",
        measured=0 if restored else 1,
        verdict="pass" if restored else "fail",
    )
    assert restored, f"a restore to {marker[1].isoformat()} does not hold the marker committed then"
