"""The replicated-bucket check passes a replica near its bound and fails one beyond it,
naming the objects (`dr/buckets.py`, `suites/dr/test_replicated_buckets.py`).

A separately started S3 (moto) holds a source bucket of 1,000 objects under the reference
description's prefixes (`attachments/`, `exports/`, plus one outside them) and a replica
copied from it. The suite runs as a user would run it against staging: in its own pytest,
through a profile naming the pair (`[buckets] replicas`).

- One object not yet copied, just written: drift 0.1 %, at the 0.1 % bound, in flight
  within the 24 h lag: both rows pass.
- Then two more missing and one changed, with the lag bound set to 1 s and waited out:
  drift 0.4 % and four overdue objects, each named; the suite fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dr.buckets import seed_mirrored
from fixtures.providers.s3 import S3Endpoint

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
OBJECTS = 1000
SUITE_DEADLINE_SECONDS = 180.0


def _pair(s3: S3Endpoint) -> tuple[str, str]:
    """A source of OBJECTS objects under the prefixes (one more outside them), and its copy."""
    client = s3.client()
    source, replica = f"{s3.bucket}-files", f"{s3.bucket}-files-dr"
    keys = [f"{'attachments' if n % 2 else 'exports'}/{n:04d}.bin" for n in range(OBJECTS)]
    seed_mirrored(client, source, replica, keys)
    client.put_object(Bucket=source, Key="tmp/not-mirrored.bin", Body=b"scratch")
    return source, replica


def _run(s3: S3Endpoint, source: str, replica: str, workdir: Path, *options: str) -> Any:
    workdir.mkdir()
    profile = workdir / "replicas.toml"
    profile.write_text(
        '[target]\nname = "replicated-buckets"\n'
        f'[services.s3]\nendpoint_url = "{s3.endpoint_url}"\nbucket = "{s3.bucket}"\n'
        'access_key_id = "${REPLICA_S3_KEY}"\nsecret_access_key = "${REPLICA_S3_SECRET}"\n'
        f'[buckets.replicas]\n"{source}" = "{replica}"\n'
    )
    criteria = workdir / "criteria.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/dr/test_replicated_buckets.py",
            "-p",
            "no:cacheprovider",
            "--target",
            str(profile),
            f"--criteria-file={criteria}",
            *options,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SUITE_DEADLINE_SECONDS,
        env={
            **os.environ,
            "REPLICA_S3_KEY": s3.access_key_id,
            "REPLICA_S3_SECRET": s3.secret_access_key,
        },
        check=False,
    )
    rows = {row["criterion"]: row for row in map(json.loads, criteria.read_text().splitlines())}
    return result, rows


def test_a_replica_at_the_bound_passes_and_beyond_it_fails_naming_the_objects(
    s3_factory: Callable[..., Any], tmp_path: Path
) -> None:
    s3: S3Endpoint = s3_factory().endpoint
    source, replica = _pair(s3)
    client = s3.client()
    client.delete_object(Bucket=replica, Key="exports/0000.bin")  # not copied yet
    result, rows = _run(s3, source, replica, tmp_path / "near")
    assert result.returncode == 0, result.stdout[-3000:]
    assert rows["replica_drift"]["measured"] == pytest.approx(0.001)
    assert rows["replica_drift"]["verdict"] == "pass"
    assert rows["replica_overdue"]["measured"] == 0
    assert rows["replica_overdue"]["verdict"] == "pass"

    for key in ("attachments/0001.bin", "exports/0500.bin"):
        client.delete_object(Bucket=replica, Key=key)
    client.put_object(Bucket=replica, Key="attachments/0003.bin", Body=b"truncated")
    time.sleep(1.5)  # every object older than the 1 s lag bound set below
    beyond = tmp_path / "beyond"
    result, rows = _run(s3, source, replica, beyond, "--set", "dr.replication.max_lag=1s")
    assert result.returncode == 1, result.stdout[-3000:]
    drift, overdue = rows["replica_drift"], rows["replica_overdue"]
    assert drift["measured"] == pytest.approx(0.004)
    assert drift["verdict"] == "fail"
    assert overdue["measured"] == 4
    assert overdue["verdict"] == "fail"
    for key in ("exports/0000.bin", "attachments/0001.bin", "exports/0500.bin"):
        assert key in result.stdout
    assert "1 changed: attachments/0003.bin" in result.stdout
    assert "tmp/not-mirrored.bin" not in result.stdout  # outside the mirrored prefixes
