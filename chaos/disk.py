"""Disk I/O failure for Postgres: a share of its writes and syncs really fail.

A Postgres started with `PostgresProvider(io_faults=True)` has the harness's shim
preloaded (`scripts/iofault/iofault.c`, compiled by `scripts/bootstrap`): it wraps
`pwrite`, `pwritev`, `fsync` and `fdatasync` (what Postgres writes its data and WAL
with) and fails the share of them that its control file names, with the errno it names.
What this models: a failing disk or volume returning EIO on some writes. What Postgres
does then is its own: a failed relation extension is an ERROR for that transaction; a
failed WAL write or fsync is a PANIC, a crash and recovery; a recovery that fails too
shuts it down until it is restarted (the supervisor does). What the target must do: answer
errors (503), not hang; lose no acknowledged write; no corruption (data checksums on).

Each process re-reads the control file every 100 ms; failures are counted in
`<control file>.log`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from chaos.errors import FaultSpecError

AMCHECK_TIMEOUT_SECONDS = 300.0

REFRESH_SECONDS = 0.1
OPS = ("w", "r", "rw")


def check(probability: float, error: int, ops: str) -> str:
    if not 0 < probability <= 1:
        raise FaultSpecError(f"disk fault: probability={probability!r} must be in (0, 1]")
    if not isinstance(error, int) or error <= 0:
        raise FaultSpecError(f"disk fault: error={error!r} must be a positive errno (5 = EIO)")
    if ops not in OPS:
        raise FaultSpecError(f"disk fault: ops={ops!r} must be one of {', '.join(OPS)}")
    return f"{probability:g} {error} {ops}"


def injected(control: Path) -> int:
    """How many I/O calls the shim has failed so far."""
    try:
        return len(Path(f"{control}.log").read_text().splitlines())
    except OSError:
        return 0


@contextlib.contextmanager
def disk_faults(control: Path, probability: float, error: int = 5, ops: str = "w") -> Iterator[str]:
    """The shim fails that share of I/O calls for the block; yields the spec."""
    spec = check(probability, error, ops)
    if not control.exists():
        raise FaultSpecError(f"disk fault: {control} does not exist: start Postgres with io_faults")
    control.write_text(spec + "\n")
    time.sleep(2 * REFRESH_SECONDS)
    try:
        yield spec
    finally:
        control.write_text("0\n")
        time.sleep(2 * REFRESH_SECONDS)


@dataclass(frozen=True)
class AmcheckReport:
    ok: bool
    output: str
    checked: str


def accepts_connections(endpoint: Any) -> bool:
    try:
        with psycopg.connect(endpoint.dsn, connect_timeout=2, autocommit=True) as db:
            db.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def amcheck(endpoint: Any) -> AmcheckReport:
    """`pg_amcheck --heapallindexed` on every database of a local Postgres."""
    binary = Path(endpoint.bindir) / "pg_amcheck"
    argv = [
        str(binary), "--all", "--install-missing", "--heapallindexed",
        "-h", endpoint.host, "-p", str(endpoint.port), "-U", endpoint.user,
    ]  # fmt: skip
    environment = {**os.environ, "PGPASSWORD": endpoint.password, "PGCONNECT_TIMEOUT": "10"}
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=environment,
        timeout=AMCHECK_TIMEOUT_SECONDS,
        check=False,
    )
    output = (done.stdout + done.stderr).strip()
    return AmcheckReport(done.returncode == 0 and not output, output[-500:], "heap and indexes")
