"""Each session fixture gives a real, healthy server that its real client can use."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
import requests
from neo4j import GraphDatabase
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway
from prometheus_client.parser import text_string_to_metric_families

from fixtures.providers.api import ApiEndpoint
from fixtures.providers.base import HttpEndpoint
from fixtures.providers.neo4j import Neo4jEndpoint
from fixtures.providers.postgres import PostgresEndpoint
from fixtures.providers.redis import RedisEndpoint
from fixtures.providers.s3 import S3Endpoint
from fixtures.providers.toxiproxy import ToxiproxyEndpoint
from system.deadline import wait_until

pytestmark = pytest.mark.integration


def test_postgres_commits_and_reads_back(postgres: PostgresEndpoint) -> None:
    with psycopg.connect(postgres.dsn) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS probe (id int PRIMARY KEY, note text)")
        connection.execute("INSERT INTO probe VALUES (1, 'committed')")
        connection.commit()
    with psycopg.connect(postgres.dsn) as connection:
        row = connection.execute("SELECT note FROM probe WHERE id = 1").fetchone()
        version = connection.execute("SHOW server_version_num").fetchone()
    assert row == ("committed",)
    assert version is not None
    assert int(version[0]) >= 150000


def test_postgres_rejects_a_wrong_password(postgres: PostgresEndpoint) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres.dsn.replace(postgres.password, "wrong"), connect_timeout=3)


def test_neo4j_stores_a_relationship(neo4j: Neo4jEndpoint) -> None:
    # Its own label: the session's graph (:Entity, seeded for the target) is not touched.
    with GraphDatabase.driver(neo4j.uri, auth=(neo4j.user, neo4j.password)) as driver:
        driver.execute_query("MERGE (a:Probe {id: 1})-[:PROBES]->(b:Probe {id: 2})")
        records, _, _ = driver.execute_query(
            "MATCH (:Probe {id: 1})-[:PROBES]->(n:Probe) RETURN n.id AS id"
        )
    assert [record["id"] for record in records] == [2]


def test_redis_sets_and_gets(redis: RedisEndpoint) -> None:
    client = redis.client()
    try:
        client.set("probe", "value", ex=60)
        assert client.get("probe") == b"value"
    finally:
        client.close()


def test_prometheus_scrapes_itself(prometheus: HttpEndpoint) -> None:
    def up() -> list[Any]:
        answer = requests.get(f"{prometheus.url}/api/v1/query", params={"query": "up"}, timeout=5)
        answer.raise_for_status()
        result: list[Any] = answer.json()["data"]["result"]
        return [sample for sample in result if sample["value"][1] == "1"]

    scraped = wait_until(up, seconds=15, what="Prometheus scraping itself", interval=0.2)
    assert scraped[0]["metric"]["job"] == "prometheus"


def test_alertmanager_accepts_and_lists_an_alert(alertmanager: HttpEndpoint) -> None:
    name = f"HarnessProbe{uuid.uuid4().hex[:8]}"
    posted = requests.post(
        f"{alertmanager.url}/api/v2/alerts",
        json=[{"labels": {"alertname": name, "severity": "none"}}],
        timeout=5,
    )
    posted.raise_for_status()

    def listed() -> bool:
        alerts = requests.get(f"{alertmanager.url}/api/v2/alerts", timeout=5).json()
        return any(alert["labels"]["alertname"] == name for alert in alerts)

    wait_until(listed, seconds=15, what=f"{name} listed by the Alertmanager", interval=0.2)


def test_pushgateway_exposes_a_pushed_metric(pushgateway: HttpEndpoint) -> None:
    registry = CollectorRegistry()
    Gauge("harness_probe_value", "probe", registry=registry).set(42)
    push_to_gateway(pushgateway.url.removeprefix("http://"), job="harness_probe", registry=registry)
    text = requests.get(f"{pushgateway.url}/metrics", timeout=5).text
    samples = [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "harness_probe_value"
    ]
    assert [(sample.labels["job"], sample.value) for sample in samples] == [("harness_probe", 42.0)]


def test_s3_stores_an_object(s3: S3Endpoint) -> None:
    client = s3.client()
    client.put_object(Bucket=s3.bucket, Key="probe/object", Body=b"payload")
    assert client.get_object(Bucket=s3.bucket, Key="probe/object")["Body"].read() == b"payload"


def test_toxiproxy_answers_its_api(toxiproxy: ToxiproxyEndpoint) -> None:
    assert toxiproxy.client().version()


def test_factory_gives_a_fresh_instance_and_stops_it(
    postgres: PostgresEndpoint, postgres_factory: Callable[..., Any]
) -> None:
    second = postgres_factory(settings={"max_connections": "30"})
    assert second.endpoint.port != postgres.port
    with psycopg.connect(second.endpoint.dsn) as connection:
        assert connection.execute("SHOW max_connections").fetchone() == ("30",)
        tables = connection.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'probe'")
        assert tables.fetchone() == (0,)
    second.stop()
    with socket.socket() as probe:  # connect, not bind: the port may sit in TIME_WAIT
        assert probe.connect_ex(("127.0.0.1", second.endpoint.port)) != 0
    assert second.endpoint.data_dir is not None
    assert not second.endpoint.data_dir.exists()


def test_api_is_the_seeded_target_behind_toxiproxy(api: ApiEndpoint) -> None:
    health = requests.get(f"{api.url}/healthz", timeout=10)
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"
    assert api.entities == 10_000
    assert requests.get(f"{api.url}/entities/{api.entities}", timeout=10).status_code == 200
    assert api.toxiproxy is not None
    proxies = api.toxiproxy.client().proxies()
    for dependency in ("postgres", "neo4j", "redis"):
        assert api.proxy_name(dependency) == dependency
        upstream = getattr(api, dependency)
        assert proxies[dependency].upstream == f"{upstream.host}:{upstream.port}"


def test_api_dependency_cut_at_its_proxy_shows_in_health(api: ApiEndpoint) -> None:
    assert api.toxiproxy is not None
    with api.toxiproxy.client() as client:
        client.disable_proxy(api.proxy_name("neo4j"))
        try:
            health = requests.get(f"{api.url}/healthz", timeout=10)
        finally:
            client.enable_proxy(api.proxy_name("neo4j"))
    assert health.status_code == 503
    assert health.json()["checks"]["neo4j"] != "ok"
    assert health.json()["checks"]["postgres"] == "ok"
    wait_until(
        lambda: requests.get(f"{api.url}/healthz", timeout=10).status_code == 200,
        seconds=15,
        what="the target healthy again with its Neo4j proxy back",
        interval=0.2,
    )


def test_api_factory_target_has_its_fault_and_proxies_and_cleans_up(
    api: ApiEndpoint, toxiproxy: ToxiproxyEndpoint, api_factory: Callable[..., Any]
) -> None:
    faulted = api_factory(toxiproxy=toxiproxy, faults={"TARGET_FAULT_ERROR_SHARE": "1.0"})
    endpoint: ApiEndpoint = faulted.endpoint
    assert endpoint.url != api.url
    assert endpoint.entities == api.entities  # the session's seeded data, not re-seeded
    assert requests.get(f"{endpoint.url}/entities/1", timeout=10).status_code == 500
    assert requests.get(f"{api.url}/entities/1", timeout=10).status_code == 200
    own_proxies = set(endpoint.proxies.values())
    assert len(own_proxies) == 3
    assert own_proxies <= set(toxiproxy.client().proxies())
    faulted.stop()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", endpoint.port)) != 0
    assert not own_proxies & set(toxiproxy.client().proxies())


def test_api_factory_refuses_a_setting_that_is_not_a_target_variable(
    api_factory: Callable[..., Any],
) -> None:
    with pytest.raises(ValueError, match="FAULT_ERROR_SHARE"):
        api_factory(faults={"FAULT_ERROR_SHARE": "1.0"})
