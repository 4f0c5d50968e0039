"""The containers backend, run for real: a private Docker engine the test session starts
itself (`private_engine` in conftest.py, `fixtures/engine.py`: `scripts/dockerd`, its own
socket and data root under the tools home, stopped at the end), the run's images — with
`make test` those `scripts/images/build` makes here from Debian's packages (built once,
then reused: nothing can be pulled on these machines) — and every service started
through the same launcher the suites use.

Skipped with one line where no engine can run (not root, or dockerd refuses to start).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import redis
import requests
from neo4j import GraphDatabase
from redis.backoff import NoBackoff
from redis.retry import Retry

from alerting.stack import evaluating_prometheus
from alerting.webhook import WebhookReceiver
from dr.history import PR_GATE_ARCHIVE_TIMEOUT_SECONDS, record_history
from dr.ledger import check_restore, read_restored
from dr.primary import archiving_primary
from dr.restore import restore
from dr.standby import promote, rejoin, standby_pair
from dr.stores import restore_redis, snapshot_redis
from dr.targets import RecoveryTarget
from fixtures.backend import Backend
from fixtures.containers import SESSION_LABEL, ContainerSpec, start_container
from fixtures.engine import EngineReady
from fixtures.errors import ServiceStartError
from fixtures.launcher import RunningService, ServiceLauncher
from fixtures.profile import LOCAL, load_profile
from fixtures.providers.alertmanager import AlertmanagerProvider
from fixtures.providers.api import ApiProvider
from fixtures.providers.neo4j import Neo4jEndpoint, Neo4jProvider
from fixtures.providers.postgres import PostgresEndpoint, PostgresProvider
from fixtures.providers.pushgateway import PushgatewayProvider
from fixtures.providers.redis import RedisEndpoint, RedisProvider
from fixtures.providers.s3 import S3Provider
from fixtures.providers.toxiproxy import ToxiproxyEndpoint, ToxiproxyProvider
from fixtures.toxiproxy_client import latency, toxic
from plugins.settings import HarnessContext
from system.deadline import NotYet, WaitTimeoutError, wait_until

pytestmark = pytest.mark.integration

REAP_SECONDS = 30.0


@pytest.fixture(scope="module")
def docker_host(private_engine: EngineReady) -> Iterator[str]:
    """The private engine's address, as this module's DOCKER_HOST (Testcontainers reads it)."""
    assert private_engine.docker_host is not None
    print(private_engine.build_log)
    previous = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = private_engine.docker_host
    try:
        yield private_engine.docker_host
    finally:
        if previous is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = previous


@pytest.fixture(scope="module")
def containers_launcher(
    docker_host: str, harness_context: HarnessContext
) -> Iterator[ServiceLauncher]:
    launcher = ServiceLauncher(Backend.CONTAINERS, load_profile(LOCAL), harness_context.images)
    try:
        yield launcher
    finally:
        launcher.close()


@dataclass(frozen=True)
class Databases:
    postgres: PostgresEndpoint
    neo4j: Neo4jEndpoint
    redis: RedisEndpoint
    toxiproxy: ToxiproxyEndpoint


@pytest.fixture(scope="module")
def databases(containers_launcher: ServiceLauncher) -> Databases:
    """One container of each database and a Toxiproxy, shared by this module's tests."""
    start = containers_launcher.start
    return Databases(
        start(PostgresProvider()).endpoint,
        start(Neo4jProvider()).endpoint,
        start(RedisProvider()).endpoint,
        start(ToxiproxyProvider()).endpoint,
    )


def _docker(docker_host: str) -> Any:
    import docker  # noqa: PLC0415

    return docker.DockerClient(base_url=docker_host, timeout=20)


def _containers_of(docker_host: str, session: str | None = None) -> list[str]:
    label = SESSION_LABEL if session is None else f"{SESSION_LABEL}={session}"
    client = _docker(docker_host)
    try:
        return [c.name for c in client.containers.list(all=True, filters={"label": label})]
    finally:
        client.close()


def test_every_service_starts_on_the_local_images_and_answers_its_client(
    containers_launcher: ServiceLauncher, databases: Databases
) -> None:
    postgres = databases.postgres
    with psycopg.connect(postgres.dsn, connect_timeout=5) as db:
        version = db.execute("SHOW server_version").fetchone()
    assert version is not None
    assert version[0].startswith("15."), version

    cache = databases.redis
    client = redis.Redis(host=cache.host, port=cache.port, socket_timeout=5)
    assert client.ping()
    info: dict[str, Any] = client.info()  # type: ignore[assignment]
    assert str(info["redis_version"]).startswith("7.0."), "Debian 12's redis 7.0"
    client.close()

    graph = databases.neo4j
    with GraphDatabase.driver(graph.uri, auth=(graph.user, graph.password)) as driver:
        records, _, _ = driver.execute_query(
            "CALL dbms.components() YIELD versions RETURN versions"
        )
    assert records[0]["versions"] == ["5.26.30"], "the native backend's Neo4j"

    s3 = containers_launcher.start(S3Provider()).endpoint
    s3.client().put_object(Bucket=s3.bucket, Key="k", Body=b"v")
    assert s3.client().get_object(Bucket=s3.bucket, Key="k")["Body"].read() == b"v"
    assert isinstance(boto3.__version__, str)

    pushgateway = containers_launcher.start(PushgatewayProvider()).endpoint
    pushed = requests.put(f"{pushgateway.url}/metrics/job/probe", data="probe_value 1\n", timeout=5)
    assert pushed.status_code == 200, pushed.text
    assert "probe_value" in requests.get(f"{pushgateway.url}/metrics", timeout=5).text

    toxiproxy = databases.toxiproxy
    assert requests.get(f"{toxiproxy.url}/version", timeout=5).ok


def test_the_api_goes_through_a_containerised_toxiproxy_that_really_delays_it(
    containers_launcher: ServiceLauncher, databases: Databases
) -> None:
    toxiproxy = databases.toxiproxy
    api = containers_launcher.start(
        ApiProvider(
            databases.postgres,
            databases.neo4j,
            databases.redis,
            toxiproxy,
            proxy_suffix="-containers",
            entities=200,
        )
    ).endpoint

    def read_seconds() -> float:
        began = time.monotonic()
        answer = requests.get(f"{api.url}/entities/7", timeout=10)
        assert answer.status_code == 200, answer.text
        return time.monotonic() - began

    before = min(read_seconds() for _ in range(5))
    name = f"harness-containers-{uuid.uuid4().hex[:8]}"
    with (
        toxiproxy.client() as client,
        toxic(client, api.proxy_name("redis"), latency(400, name=name)),
    ):
        delayed = [read_seconds() for _ in range(3)]  # every read asks Redis first
    assert before < 0.4, f"undelayed reads took {before:.3f} s"
    assert min(delayed) >= 0.4, f"reads through a 400 ms toxic on Redis took {delayed}"


def test_prometheus_in_a_container_scrapes_the_host_and_alerts_reach_the_webhook(
    containers_launcher: ServiceLauncher,
) -> None:
    pushgateway = containers_launcher.start(PushgatewayProvider()).endpoint
    with WebhookReceiver() as webhook:
        alertmanager = containers_launcher.start(
            AlertmanagerProvider(config=_alertmanager_config(webhook.url))
        ).endpoint
        rules = {
            "probe.yml": (
                "groups:\n  - name: probe\n    rules:\n"
                "      - alert: ProbeSeen\n"
                '        expr: probe_value{job="probe"} == 1\n'
                "        labels: {severity: info}\n"
            )
        }
        scrape = {"pushgateway": f"{pushgateway.host}:{pushgateway.port}"}
        prometheus = containers_launcher.start(
            evaluating_prometheus(scrape, alertmanager, rules)
        ).endpoint
        requests.put(
            f"{pushgateway.url}/metrics/job/probe", data="probe_value 1\n", timeout=5
        ).raise_for_status()
        _, alert = webhook.wait_for("ProbeSeen", 60)
        up = requests.get(
            f"{prometheus.url}/api/v1/query", params={"query": "up"}, timeout=5
        ).json()
    assert alert["labels"]["severity"] == "info"
    assert {r["metric"]["job"]: r["value"][1] for r in up["data"]["result"]}["pushgateway"] == "1"


def _alertmanager_config(webhook_url: str) -> str:
    return (
        "route:\n  receiver: hook\n  group_by: ['...']\n  group_wait: 0s\n"
        "  group_interval: 1s\n  repeat_interval: 1h\n"
        f"receivers:\n  - name: hook\n    webhook_configs:\n      - url: '{webhook_url}'\n"
    )


HOLDING_TEST = """
import json, os, time
from pathlib import Path

def test_hold(service_launcher):
    from fixtures.providers.redis import RedisEndpoint, RedisProvider
    service_launcher.start(RedisProvider())
    Path(os.environ["HARNESS_STATE_FILE"]).write_text(json.dumps(
        {"session": service_launcher.session}))
    time.sleep(120)  # bounded: the parent test kills us long before
"""


def test_a_killed_pytest_leaves_no_container(docker_host: str, pytester: pytest.Pytester) -> None:
    """Ryuk cannot be pulled here: the harness's reaper removes the session's containers."""
    pytester.makeconftest('pytest_plugins = ["plugins.target", "plugins.services"]')
    test_file = pytester.makepyfile(test_hold=HOLDING_TEST)
    state = pytester.path / "state.json"
    log = pytester.path / "run.log"
    with log.open("wb") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--backend",
             "containers", str(test_file)],
            cwd=pytester.path, env={**os.environ, "HARNESS_STATE_FILE": str(state)},
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:

        def started() -> bool:
            assert run.poll() is None, f"the holding run ended:\n{log.read_text()[-3000:]}"
            return state.exists()

        try:
            wait_until(started, seconds=120, what="a container started", interval=0.2)
        except WaitTimeoutError as timeout:
            pytest.fail(f"{timeout}:\n{log.read_text()[-3000:]}")
        session = json.loads(state.read_text())["session"]
        assert _containers_of(docker_host, session), "its container should be up before the kill"
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    wait_until(
        lambda: not (left := _containers_of(docker_host, session)) or NotYet(f"left: {left}"),
        seconds=REAP_SECONDS,
        what=f"the containers of session {session} reaped",
        interval=0.5,
    )


def test_a_paused_container_answers_again_after_resume(
    containers_launcher: ServiceLauncher,
) -> None:
    service: RunningService[Any] = containers_launcher.start(RedisProvider())
    endpoint = service.endpoint
    # One attempt: redis-py retries a timeout three times with backoff (7 s against a pause).
    once = Retry(NoBackoff(), 0)
    client = redis.Redis(host=endpoint.host, port=endpoint.port, socket_timeout=1, retry=once)
    service.pause()
    try:
        with pytest.raises(redis.exceptions.TimeoutError):
            client.ping()
    finally:
        service.resume()
    assert client.ping()
    service.kill()
    assert not service.control.alive() if service.control else False
    service.restart()
    assert redis.Redis(host=endpoint.host, port=endpoint.port, socket_timeout=5).ping()


def test_dr_archives_restores_exactly_and_fails_over_on_containers(
    containers_launcher: ServiceLauncher, databases: Databases
) -> None:
    """The DR code on the containers backend (`DR_IMAGE` on the harness's files): an
    archiving primary's WAL through Barman Cloud inside its container, a restore to a
    transaction id matching the ledger exactly, and a synchronous standby (`pg_basebackup`
    of a container) promoted after its primary is killed, the old primary rewound
    (`pg_rewind` of its files) and streaming from it again."""
    s3 = containers_launcher.start(S3Provider()).endpoint
    with archiving_primary(containers_launcher, s3, PR_GATE_ARCHIVE_TIMEOUT_SECONDS) as primary:
        assert primary.service.backend is Backend.CONTAINERS
        history = record_history(primary, seed=20261206)
        ledger = history.ledger
        target = RecoveryTarget("xid", str(ledger.batches[ledger.middle()].xid), inclusive=False)
        restored = restore(containers_launcher, primary.tool, target, primary.work_root)
        try:
            assert restored.service.backend is Backend.CONTAINERS
            assert restored.wal_segments_restored > 0, "WAL fetched by restore_command inside"
            assert {"start", "replay_wal", "promote"} <= restored.phases.keys(), restored.phases
            check_restore(ledger, target, read_restored(restored.endpoint.dsn))
        finally:
            restored.service.stop()

    with standby_pair(containers_launcher, databases.toxiproxy, synchronous=True) as pair:
        with psycopg.connect(pair.primary.endpoint.dsn, autocommit=True) as db:
            db.execute("CREATE TABLE kept (id int)")
            db.execute("INSERT INTO kept SELECT generate_series(1, 100)")
        pair.primary.kill()
        promote(pair.standby.endpoint)
        with psycopg.connect(pair.standby.endpoint.dsn, autocommit=True) as db:
            kept = db.execute("SELECT count(*) FROM kept").fetchone()
            db.execute("INSERT INTO kept VALUES (101)")
        assert kept == (100,), "a synchronous standby has every acknowledged write"
        rejoined = rejoin(containers_launcher, pair.primary, pair.standby.endpoint, pair.work_root)
        try:
            wait_until(
                lambda: _count(rejoined.endpoint.dsn) == 101 or NotYet("not replayed yet"),
                seconds=30,
                what="the rewound old primary replaying the new primary's write",
                retry_on=(psycopg.OperationalError,),
            )
        finally:
            rejoined.stop()


def _count(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as db:
        row = db.execute("SELECT count(*) FROM kept").fetchone()
    return int(row[0]) if row is not None else 0


def test_a_server_that_exits_while_starting_fails_at_once_with_its_log(
    containers_launcher: ServiceLauncher,
) -> None:
    """As a restore to a target beyond the archive ends (Postgres stops): the wait ends when
    the container does, not at the readiness deadline (an hour for a restore)."""
    began = time.monotonic()
    with pytest.raises(ServiceStartError) as raised:
        containers_launcher.start(PostgresProvider(settings={"no_such_setting": "1"}))
    assert time.monotonic() - began < PostgresProvider.ready_deadline_seconds
    assert "exited with code 1" in str(raised.value)
    assert 'unrecognized configuration parameter "no_such_setting"' in str(raised.value)


def test_an_image_built_here_but_missing_is_one_line_with_the_build_command(
    docker_host: str,
) -> None:
    spec = ContainerSpec(image="reliability-harness/postgres-dr:0-missing", ports=(5432,))
    with pytest.raises(ServiceStartError) as raised:
        start_container(spec)
    message = str(raised.value)
    assert message == (
        "container image reliability-harness/postgres-dr:0-missing is not on this Docker "
        "engine: build it with scripts/images/build postgres-dr (it is made on this machine, "
        "never pulled)"
    )


def test_a_redis_snapshot_moves_between_containers_through_the_image_tools(
    containers_launcher: ServiceLauncher, tmp_path: Path
) -> None:
    """What the graph-and-cache restore does on containers (`dr.stores`, the drill's): the
    snapshot copied out and in by one-off containers on the servers' volumes, the fresh
    server halted and started again on it."""
    source = containers_launcher.start(RedisProvider())
    fresh = containers_launcher.start(RedisProvider())
    try:
        client = source.endpoint.client()
        client.set("restore-marker", b"kept")
        client.close()
        snapshot = snapshot_redis(source, tmp_path / "snapshot")
        assert snapshot.stat().st_size > 0
        restore_redis(fresh, snapshot)
        client = fresh.endpoint.client()
        assert client.get("restore-marker") == b"kept"
        client.close()
    finally:
        fresh.stop()
        source.stop()
