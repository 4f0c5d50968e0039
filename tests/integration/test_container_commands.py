"""A container's command line, run against the real server binary (no Docker needed).

The containers backend once gave Postgres `-c key=value` as one argument, which the
server refuses ("unrecognized configuration parameter ' archive_mode'"); unit tests of
the spec did not see it. Here the spec's own argv is handed to the native `postgres`
binary (`-C name` prints a setting's value as the server would take it, and exits).
"""

from __future__ import annotations

import subprocess

import pytest

from fixtures.providers.postgres import PostgresEndpoint, PostgresProvider
from fixtures.tools import service_user

pytestmark = pytest.mark.integration

SETTINGS = {
    "wal_level": "replica",
    "archive_mode": "on",
    "archive_command": "'test ! -f /archive/%f && cp %p ''/archive/%f'''",
    "archive_timeout": "60",
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("archive_mode", "on"),
        ("archive_command", "test ! -f /archive/%f && cp %p '/archive/%f'"),
        ("archive_timeout", "60"),
        ("wal_level", "replica"),
    ],
)
def test_the_postgres_container_command_is_one_the_real_server_takes(
    postgres: PostgresEndpoint, name: str, expected: str
) -> None:
    spec = PostgresProvider(settings=SETTINGS).container().on_host_port(postgres.port)
    assert postgres.data_dir is not None
    command = spec.in_workdir(postgres.data_dir.parent, postgres.data_dir.parent).command
    assert command[0] == "postgres", "the official entrypoint runs it as the server"
    assert postgres.bindir is not None
    assert postgres.data_dir is not None
    user = service_user()
    shown = subprocess.run(
        [str(postgres.bindir / "postgres"), "-D", str(postgres.data_dir), *command[1:], "-C", name],
        capture_output=True,
        text=True,
        user=user,
        extra_groups=[] if user is not None else None,
        timeout=30,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == expected
