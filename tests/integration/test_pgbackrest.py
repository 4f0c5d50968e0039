"""pgBackRest as the backup engine (`dr/pgbackrest.py`), on real servers: the local S3 over
TLS, one archiving primary with a recorded commit history (`dr.history`), restored at a
target of each kind — time between batches, xid, lsn, name, immediate, latest — each
compared exactly with the writer's ledger, as `suites/dr/test_pitr.py` does with Barman
Cloud. A target beyond the archive must end in Postgres's own error (the archive-get
wrapper reports a missing segment as the end of the archive, nothing else), restored
servers never archive into the source's repository, the credentials live in the config
file only, and a failing command is one line naming it. A profile naming the repository
(`[dr] tool = "pgbackrest"`, the endpoint's certificate verified by its `ca_file`) is
restored by the DR suite end to end.

One primary and one history serve every restore (module-scoped), restored two at a time:
each restored server has its own archive-get spool beside its data directory.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dr.archive import BaseBackup
from dr.errors import BackupToolError, DrInputError, RecoveryTargetNotReachedError
from dr.history import PR_GATE_ARCHIVE_TIMEOUT_SECONDS, RESTORE_POINT, History, record_history
from dr.ledger import TABLE, Ledger, check_restore, read_restored
from dr.pgbackrest import CONFIG, PgBackRest
from dr.primary import archiving_primary
from dr.restore import NOT_REACHED, FetchedBackups, restore
from dr.staging import archive_of
from dr.targets import RecoveryTarget, format_lsn
from fixtures.launcher import ServiceLauncher
from fixtures.profile import load_profile
from fixtures.providers.s3 import S3Endpoint, S3Provider
from fixtures.tools import hand_to_service_user, service_user

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

RESTORES_AT_ONCE = 2


@pytest.fixture(scope="module")
def tls_s3(dr_launcher: ServiceLauncher) -> Iterator[S3Endpoint]:
    """The local S3 over TLS (pgBackRest speaks nothing else to S3), for this module."""
    service = dr_launcher.start(S3Provider(tls=True))
    try:
        yield service.endpoint
    finally:
        service.stop()


@pytest.fixture(scope="module")
def pgbackrest_history(
    dr_launcher: ServiceLauncher, tls_s3: S3Endpoint, dr_seed: int
) -> Iterator[History]:
    """An archiving primary backed up by pgBackRest (autovacuum off), with the history."""
    with archiving_primary(
        dr_launcher,
        tls_s3,
        PR_GATE_ARCHIVE_TIMEOUT_SECONDS,
        extra_settings={"autovacuum": "off"},
        tool="pgbackrest",
    ) as primary:
        yield record_history(primary, dr_seed)


def _tool(history: History) -> PgBackRest:
    tool = history.primary.tool
    assert isinstance(tool, PgBackRest)
    return tool


# the targets --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    pick: Callable[[Ledger], RecoveryTarget]


CASES = [
    Case("time-between-batches", lambda ledger: ledger.time_between(ledger.middle())),
    Case(
        "xid-exclusive",
        lambda ledger: RecoveryTarget("xid", str(ledger.batches[ledger.middle()].xid), False),
    ),
    Case(
        "lsn-of-commit-inclusive",
        lambda ledger: RecoveryTarget(
            "lsn", format_lsn(ledger.batches[ledger.middle()].commit_lsn), True
        ),
    ),
    Case("name", lambda _: RecoveryTarget("name", RESTORE_POINT, True)),
    Case("immediate", lambda _: RecoveryTarget("immediate")),
    Case("latest", lambda _: RecoveryTarget("latest")),
]


def _beyond_the_archive(history: History) -> RecoveryTarget:
    return history.ledger.time_beyond()


# the restores, all before the first test ----------------------------------------------


@dataclass(frozen=True)
class Restored:
    target: RecoveryTarget
    backup: BaseBackup
    rows: list[tuple[int, str]]
    archive_mode: str
    wal_segments_restored: int
    fetched_ahead: bool  # archive-get's asynchronous process ran, in the server's own spool
    phases: dict[str, float]


@dataclass(frozen=True)
class Refused:
    target: RecoveryTarget
    error: RecoveryTargetNotReachedError | None
    left_behind: list[str]


@dataclass
class Restores:
    cases: dict[str, Future[Restored]]
    beyond: Future[Refused]


@pytest.fixture(scope="module")
def restores(pgbackrest_history: History, dr_launcher: ServiceLauncher) -> Iterator[Restores]:
    primary = pgbackrest_history.primary
    fetched_dir = primary.work_root / "fetched"
    fetched_dir.mkdir()
    fetched = FetchedBackups(primary.tool, fetched_dir)

    def one(case: Case) -> Restored:
        target = case.pick(pgbackrest_history.ledger)
        result = restore(dr_launcher, primary.tool, target, primary.work_root, fetched=fetched)
        try:
            with psycopg.connect(result.endpoint.dsn) as connection:
                row = connection.execute("SHOW archive_mode").fetchone()
            assert result.endpoint.data_dir is not None
            spool = result.endpoint.data_dir.parent / "pgbackrest"
            return Restored(
                target=target,
                backup=result.backup,
                rows=read_restored(result.endpoint.dsn),
                archive_mode=str(row[0]) if row else "",
                wal_segments_restored=result.wal_segments_restored,
                fetched_ahead=any(spool.glob("*-archive-get-async.log")),
                phases=dict(result.phases),
            )
        finally:
            result.service.stop()

    def beyond() -> Refused:
        target = _beyond_the_archive(pgbackrest_history)
        own = primary.work_root / "refused"
        own.mkdir()
        try:
            restore(dr_launcher, primary.tool, target, own, fetched=fetched).service.stop()
        except RecoveryTargetNotReachedError as error:
            return Refused(target, error, sorted(path.name for path in own.iterdir()))
        return Refused(target, None, sorted(path.name for path in own.iterdir()))

    pool = ThreadPoolExecutor(max_workers=RESTORES_AT_ONCE, thread_name_prefix="pgbackrest")
    try:
        done = Restores({case.name: pool.submit(one, case) for case in CASES}, pool.submit(beyond))
        pending: list[Future[Any]] = [*done.cases.values(), done.beyond]
        wait(pending)
        yield done
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# the tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_restore_to_target_matches_the_ledger(
    case: Case, pgbackrest_history: History, restores: Restores
) -> None:
    ledger = pgbackrest_history.ledger
    target = case.pick(ledger)
    expected = ledger.expected_rows(target)
    every_row = ledger.expected_rows(RecoveryTarget("latest"))
    if target.kind == "latest":
        assert expected == every_row
    else:  # the target must split the history, or a restore to latest would pass unnoticed
        assert 0 < len(expected) < len(every_row), f"{target.describe()} does not split it"
    restored = restores.cases[case.name].result()
    assert restored.target == target
    check_restore(ledger, target, restored.rows)
    assert len(restored.rows) == len(expected)
    assert restored.backup.name == "pitr-base"
    assert restored.archive_mode == "off"


def test_a_restore_fetches_wal_ahead_asynchronously(restores: Restores) -> None:
    """The restore to latest replays every segment after the backup, through archive-get's
    asynchronous process in the restored server's own spool."""
    latest = restores.cases["latest"].result()
    assert latest.wal_segments_restored >= 2
    assert latest.fetched_ahead, "no archive-get-async log in the restored server's spool"


def test_a_target_beyond_the_archive_fails_with_postgres_error(restores: Restores) -> None:
    refused = restores.beyond.result()
    assert refused.error is not None, f"a restore to {refused.target.describe()} did not fail"
    assert NOT_REACHED in str(refused.error)
    assert not refused.left_behind, f"a failed restore left files behind: {refused.left_behind}"


def test_restored_servers_never_archive_into_the_source(
    pgbackrest_history: History, restores: Restores
) -> None:
    """Every restore promoted to a timeline of its own (2); the repository holds only the
    primary's timeline 1: no segment and no history file of timeline 2."""
    pending: list[Future[Any]] = [*restores.cases.values(), restores.beyond]
    wait(pending)
    tool = _tool(pgbackrest_history)
    assert tool.wal_keys()
    s3 = tool.location.s3
    prefix = f"{tool.location.prefix}/archive/{tool.stanza}/"
    names = [
        item["Key"].rsplit("/", 1)[-1]
        for page in s3.client()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=s3.bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]
    assert not [name for name in names if name.startswith("00000002")], names


def test_archive_get_failing_aborts_recovery_instead_of_ending_it(
    pgbackrest_history: History, restores: Restores
) -> None:
    """A segment not in the archive is the end of it (exit 1: Postgres ends recovery);
    any other failure of archive-get (here the repository's bucket is gone) is an exit
    status above 125, on which Postgres aborts recovery instead of promoting early."""
    pending: list[Future[Any]] = [*restores.cases.values(), restores.beyond]
    wait(pending)
    tool = _tool(pgbackrest_history)
    work_root = pgbackrest_history.primary.work_root
    server = Path(tempfile.mkdtemp(prefix="archive-get-", dir=work_root))
    server.chmod(0o755)
    hand_to_service_user(server)
    data = server / "data"
    tool.fetch(tool.backups()[0], data)  # a data directory of the cluster: its pg_control
    location = tool.location
    gone = replace(location, s3=replace(location.s3, bucket="no-such-bucket"))
    broken = PgBackRest(gone, work_root / "broken-tool")
    user = service_user()

    def archive_get(engine: PgBackRest) -> int:
        script = engine.restore_command().strip("'").split()[0]
        result = subprocess.run(
            [script, "0000000100000000000000FF", "pg_wal/RECOVERYXLOG"],
            cwd=data,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            user=user,
            extra_groups=[] if user is not None else None,
        )
        return result.returncode

    assert archive_get(tool) == 1
    assert archive_get(broken) > 125


def test_the_credentials_are_in_the_config_file_only(pgbackrest_history: History) -> None:
    tool = _tool(pgbackrest_history)
    s3 = tool.location.s3
    config = tool.tool_dir / CONFIG
    info = config.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    user = service_user()
    if user is not None:
        assert info.st_uid == pwd.getpwnam(user).pw_uid
    assert s3.secret_access_key in config.read_text()
    settings = tool.postgres_settings(5.0)
    seen = [
        *settings.values(),
        tool.restore_command(),
        *(
            path.read_text()
            for path in tool.tool_dir.iterdir()
            if path.is_file() and path.name.startswith("pgbackrest-")
        ),
    ]
    for text in seen:
        assert s3.secret_access_key not in text
        assert s3.access_key_id not in text


def test_a_failing_command_is_one_line_naming_it(
    pgbackrest_history: History, tmp_path: Path
) -> None:
    tool = _tool(pgbackrest_history)
    backup = tool.backups()[0]
    missing = replace(backup, backup_id="20010101-000000F")
    with pytest.raises(
        BackupToolError, match=r"^pgbackrest restore failed \(exit \d+\) on "
    ) as error:
        tool.fetch(missing, tmp_path / "data")
    message = str(error.value)
    assert "\n" not in message
    assert tool.location.s3.secret_access_key not in message
    assert "20010101-000000F" in message
    assert not (tmp_path / "data").exists()
    assert not [path for path in tool.tool_dir.iterdir() if path.name.startswith("fetch-")]


def test_pgbackrest_over_plain_http_is_refused_in_one_line(
    dr_launcher: ServiceLauncher,
) -> None:
    plain = S3Endpoint("http://127.0.0.1:9", "wal-archive", "key", "secret")
    running = len(dr_launcher.running())
    with (
        pytest.raises(DrInputError, match=r"pgBackRest speaks only HTTPS to S3") as error,
        archiving_primary(dr_launcher, plain, tool="pgbackrest"),
    ):
        pass
    assert "\n" not in str(error.value)
    assert len(dr_launcher.running()) == running


def test_a_profile_naming_a_pgbackrest_repository_gets_pgbackrest(
    tls_s3: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[dr] tool = "pgbackrest"` in a profile: its stanza and repository path, restored by
    the same class the restores above prove (`dr.staging.archive_of`)."""
    monkeypatch.setenv("REPO_S3_SECRET", tls_s3.secret_access_key)
    profile = tmp_path / "staging.toml"
    profile.write_text(
        '[target]\nname = "staging"\n'
        f'[services.s3]\nendpoint_url = "{tls_s3.endpoint_url}"\nbucket = "{tls_s3.bucket}"\n'
        f'access_key_id = "{tls_s3.access_key_id}"\nsecret_access_key = "${{REPO_S3_SECRET}}"\n'
        '[dr]\ntool = "pgbackrest"\nbucket = "backups"\nprefix = "pg/main"\nstanza = "main"\n'
    )
    tool = archive_of(load_profile(str(profile)), tmp_path / "tool")
    assert isinstance(tool, PgBackRest)
    assert (tool.stanza, tool.location.prefix, tool.location.s3.bucket) == (
        "main",
        "pg/main",
        "backups",
    )
    assert tool.location.s3.ca_file is None, "verified against the system's CAs"


def test_a_profiles_pgbackrest_repository_is_restored_by_the_dr_suite(
    pgbackrest_history: History, tls_s3: S3Endpoint, tmp_path: Path
) -> None:
    """End to end, as against staging: a profile naming this primary's pgBackRest repository
    (`[dr] tool = "pgbackrest"`, its stanza and path) on an endpoint whose certificate its
    `[services.s3] ca_file` verifies; the DR suite (`suites/dr/test_profile_restore.py`, in
    its own pytest) restores the newest backup with its table and a measured RPO, and a
    marker written now is in a restore to now."""
    primary = pgbackrest_history.primary
    postgres, location = primary.endpoint, primary.tool.location
    assert tls_s3.ca_file is not None
    profile = tmp_path / "pgbackrest-staging.toml"
    profile.write_text(
        '[target]\nname = "pgbackrest-staging"\n'
        "[services.postgres]\n"
        f'dsn = "postgresql://{postgres.user}@{postgres.host}:{postgres.port}/{postgres.dbname}"\n'
        'password = "${STAGING_PG_PASSWORD}"\n'
        f'[services.s3]\nendpoint_url = "{tls_s3.endpoint_url}"\nbucket = "{tls_s3.bucket}"\n'
        f'access_key_id = "{tls_s3.access_key_id}"\nsecret_access_key = "${{STAGING_S3_SECRET}}"\n'
        f'ca_file = "{tls_s3.ca_file}"\n'
        f'[dr]\ntool = "pgbackrest"\nbucket = "{tls_s3.bucket}"\nprefix = "{location.prefix}"\n'
        f'stanza = "{location.server}"\ntables = ["{TABLE}"]\nwrite_markers = true\n'
    )
    criteria = tmp_path / "criteria.jsonl"
    secrets = {
        "STAGING_PG_PASSWORD": postgres.password,
        "STAGING_S3_SECRET": tls_s3.secret_access_key,
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/dr/test_profile_restore.py", "--target",
         str(profile), "-p", "no:cacheprovider", f"--criteria-file={criteria}"],
        cwd=REPO, env={**os.environ, **secrets}, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.OK, output[-3000:]
    assert "2 passed" in output, output[-3000:]
    rows = {row["criterion"]: row for row in map(json.loads, criteria.read_text().splitlines())}
    assert (
        rows["rpo"]["verdict"] == rows["rto"]["verdict"] == rows["pitr_exact"]["verdict"] == "pass"
    )
    assert rows["rpo"]["measured"] is not None
