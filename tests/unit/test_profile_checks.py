"""The profile model's checks of values (`system/profile_model.py`): each service's URL
(scheme, host, a port in 1-65535) and `[chaos] allow`'s fault kinds, one line each, the
same for every command that reads a profile; and `shown_url`, what a message may quote."""

from __future__ import annotations

from typing import Any

import pytest

from system.profile_model import FAULT_KINDS, profile_problem, shown_url, url_problem


def problem(services: dict[str, Any]) -> str | None:
    return profile_problem({"target": {"name": "x"}, "services": services})


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        ({"api": {"url": "http://127.0.0.1:99999"}}, "key 'services.api.url' has port 99999, "),
        ({"api": {"url": "http://127.0.0.1:0"}}, "has port 0, outside 1-65535"),
        ({"api": {"url": "http://127.0.0.1:80a"}}, "has port '80a', not a number"),
        ({"api": {"url": "ftp://127.0.0.1:21"}}, "key 'services.api.url' has scheme 'ftp'; give"),
        ({"api": {"url": "127.0.0.1:8000"}}, "is not a URL (no scheme)"),
        ({"api": {"url": "api.example"}}, "is not a URL (no scheme)"),
        ({"api": {"url": "http://:8000"}}, "key 'services.api.url' has no host"),
        ({"prometheus": {"url": "http://p:65536"}}, "'services.prometheus.url' has port 65536"),
        ({"toxiproxy": {"url": "https://t:8474"}}, "has scheme 'https'; give a URL with scheme"),
        ({"redis": {"url": "http://cache:6379/0"}}, "'services.redis.url' has scheme 'http'"),
        ({"neo4j": {"uri": "bolt://graph:70000"}}, "'services.neo4j.uri' has port 70000"),
        ({"postgres": {"dsn": "postgresql://app@db:99999/app"}}, "'services.postgres.dsn' has"),
        ({"postgres": {"dsn": "mysql://app@db/app"}}, "has scheme 'mysql'"),
        (
            {"s3": {"endpoint_url": "s3://bucket", "bucket": "b"}},
            "'services.s3.endpoint_url' has scheme 's3'",
        ),
    ],
)
def test_a_bad_service_url_is_one_line_naming_the_key(
    services: dict[str, Any], expected: str
) -> None:
    found = problem(services)
    assert found is not None
    assert expected in found
    assert "\n" not in found


@pytest.mark.parametrize(
    "services",
    [
        {"api": {"url": "https://api.staging.example"}},
        {"api": {"url": "http://[::1]:8000/base"}},
        {"api": {"url": "http://app:${SECRET}@127.0.0.1:9"}},  # checked once substituted
        {"api": {"url": "${API_URL}"}},
        {"api": {"url": "http://${API_HOST}:8000"}},
        {"postgres": {"dsn": "postgresql://app@db.example:5432/app"}},
        {"postgres": {"dsn": "postgresql:///app?host=/run/postgresql"}},  # a socket
        {"postgres": {"dsn": "postgresql://app@h1:5432,h2:5433/app"}},  # several hosts
        {"postgres": {"dsn": "host=db port=5432 dbname=app"}},
        {"redis": {"url": "rediss://cache:6380/0"}},
        {"neo4j": {"uri": "neo4j+s://graph.example"}},
        {"toxiproxy": {"url": "http://toxiproxy:8474"}},
    ],
)
def test_good_urls_pass(services: dict[str, Any]) -> None:
    assert problem(services) is None


def test_a_url_problem_never_quotes_the_url() -> None:
    found = problem({"api": {"url": "http://user:hunter22@127.0.0.1:99999"}})
    assert found is not None
    assert "hunter22" not in found


def test_a_missing_key_is_said_before_a_bad_value() -> None:
    found = problem({"s3": {"endpoint_url": "x"}})
    assert found == "key 'services.s3.bucket' is required"


def test_an_unknown_fault_kind_is_named_with_the_known_ones() -> None:
    found = profile_problem({"target": {"name": "x"}, "chaos": {"allow": ["latency", "quake"]}})
    assert found == (
        "key 'chaos.allow' names unknown fault kind(s) quake; known: " + ", ".join(FAULT_KINDS)
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pw@127.0.0.1:9/x", "http://***@127.0.0.1:9/x"),
        ("http://token@h/a@b", "http://***@h/a@b"),
        ("http://h:9/a@b", "http://h:9/a@b"),
        ("notaurl", "notaurl"),
        ("user:pw@h", "***@h"),
    ],
)
def test_shown_url_masks_whatever_precedes_the_host(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_url_problem_checks_the_schemes_it_is_given() -> None:
    assert url_problem("https://gw.example:9091", ("http", "https"), "x") is None
    assert url_problem("https://gw.example:9091", ("http",), "http://x") == (
        "has scheme 'https'; give a URL with scheme http://, like http://x"
    )
