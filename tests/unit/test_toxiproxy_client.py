"""The Toxiproxy client's and provider's own logic: payloads, parsing, error messages.

Behaviour against Toxiproxy itself is tested with the real server in
tests/integration/test_toxiproxy_provider.py; nothing here stands in for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.errors import MissingToolError, ProfileError
from fixtures.lifecycle.ports import LOOPBACK, PortAllocator
from fixtures.providers.toxiproxy import IMAGE, VERSION, ToxiproxyEndpoint, ToxiproxyProvider
from fixtures.toxiproxy_client import (
    Proxy,
    Toxic,
    ToxiproxyClient,
    ToxiproxyError,
    bandwidth,
    error_message,
    latency,
    limit_data,
    reset_peer,
    server_reason,
    slicer,
    slow_close,
    timeout,
    toxic,
)


# toxics ---------------------------------------------------------------------------------
def test_a_toxic_is_named_like_toxiproxy_names_it_and_sends_every_field() -> None:
    spec = Toxic("latency", {"latency": 300})
    assert spec.name == "latency_downstream"
    assert spec.payload() == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 300},
    }
    upstream = Toxic("timeout", {"timeout": 0}, "upstream", 0.5, "stall")
    assert upstream.payload()["stream"] == "upstream"
    assert upstream.payload()["toxicity"] == 0.5
    assert upstream.name == "stall"


@pytest.mark.parametrize(
    ("built", "kind", "attributes"),
    [
        (latency(300, 50), "latency", {"latency": 300, "jitter": 50}),
        (bandwidth(64), "bandwidth", {"rate": 64}),
        (slow_close(1000), "slow_close", {"delay": 1000}),
        (timeout(0), "timeout", {"timeout": 0}),
        (reset_peer(), "reset_peer", {"timeout": 0}),
        (slicer(100, 10, 500), "slicer", {"average_size": 100, "size_variation": 10, "delay": 500}),
        (limit_data(1024), "limit_data", {"bytes": 1024}),
    ],
)
def test_each_constructor_uses_toxiproxys_attribute_names(
    built: Toxic, kind: str, attributes: dict[str, int]
) -> None:
    assert built.type == kind
    assert dict(built.attributes) == attributes


def test_constructors_take_stream_toxicity_and_name() -> None:
    built = latency(10, stream="upstream", toxicity=0.25, name="slow-writes")
    assert (built.stream, built.toxicity, built.name) == ("upstream", 0.25, "slow-writes")


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"type": "lag"}, ValueError, "unknown toxic type 'lag'"),
        ({"type": "latency", "stream": "sideways"}, ValueError, "stream must be"),
        ({"type": "latency", "toxicity": 1.5}, ValueError, r"toxicity is a probability"),
        ({"type": "latency", "toxicity": -0.1}, ValueError, r"toxicity is a probability"),
        ({"type": "latency", "toxicity": float("nan")}, ValueError, r"toxicity is a probability"),
        ({"type": "latency", "attributes": {"latency": 0.3}}, TypeError, "must be an integer"),
        ({"type": "timeout", "attributes": {"timeout": True}}, TypeError, "must be an integer"),
    ],
)
def test_a_toxic_toxiproxy_would_refuse_is_refused_here(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Toxic(**arguments)


def test_a_toxic_is_immutable_and_hashable() -> None:
    given = {"latency": 300}
    spec = Toxic("latency", given)
    given["latency"] = 1  # the caller's dict is copied
    assert spec.attributes["latency"] == 300
    with pytest.raises(TypeError):
        spec.attributes["latency"] = 1  # type: ignore[index]
    assert hash(spec) == hash(Toxic("latency", {"latency": 300}))
    assert spec != Toxic("latency", {"latency": 301})


# parsing answers ------------------------------------------------------------------------
PROXY_ANSWER = {
    "name": "postgres",
    "listen": "127.0.0.1:26543",
    "upstream": "127.0.0.1:5432",
    "enabled": False,
    "toxics": [
        {
            "attributes": {"latency": 300, "jitter": 0},
            "name": "latency_downstream",
            "type": "latency",
            "stream": "downstream",
            "toxicity": 1,
        }
    ],
}


def test_a_proxy_answer_is_read_with_its_toxics() -> None:
    proxy = Proxy.from_json(PROXY_ANSWER)
    assert proxy == Proxy(
        "postgres",
        "127.0.0.1:26543",
        "127.0.0.1:5432",
        enabled=False,
        toxics=(latency(300),),
    )
    assert (proxy.listen_host, proxy.listen_port) == ("127.0.0.1", 26543)


def test_a_proxy_answer_without_toxics_or_on_ipv6() -> None:
    proxy = Proxy.from_json(
        {"name": "p", "listen": "[::1]:8475", "upstream": "db:1", "toxics": None}
    )
    assert proxy.toxics == ()
    assert proxy.enabled
    assert (proxy.listen_host, proxy.listen_port) == ("::1", 8475)


def test_a_toxic_answer_round_trips_through_its_payload() -> None:
    spec = slicer(100, 10, 500, stream="upstream", toxicity=0.5, name="chop")
    assert Toxic.from_json(spec.payload()) == spec


# error messages -------------------------------------------------------------------------
def test_the_error_message_is_one_line_naming_call_status_and_reason() -> None:
    error = ToxiproxyError("POST /proxies at http://127.0.0.1:8474", 409, "proxy already exists")
    assert str(error) == (
        "toxiproxy POST /proxies at http://127.0.0.1:8474: 409 Conflict: proxy already exists"
    )
    assert (error.status, error.reason) == (409, "proxy already exists")


def test_error_messages_for_odd_statuses_and_no_answer() -> None:
    assert error_message("GET /x", 599, "") == "toxiproxy GET /x: 599: (no error message)"
    assert (
        error_message("GET /x", None, "no answer: refused")
        == "toxiproxy GET /x: no answer: refused"
    )
    assert "\n" not in error_message("GET /x", 500, "line one\nline two\n")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"error":"proxy not found","status":404}\n', "proxy not found"),
        (
            '{"error":"bad request body: unexpected EOF","status":400}',
            "bad request body: unexpected EOF",
        ),
        ("405 method not allowed\n", "405 method not allowed"),
        ("", ""),
        ('["not", "an", "error", "object"]', '["not", "an", "error", "object"]'),
        ("<html>\n<body>Bad Gateway</body>\n</html>", "<html> <body>Bad Gateway</body> </html>"),
    ],
)
def test_toxiproxys_reason_is_read_from_the_body_whatever_its_content_type(
    body: str, reason: str
) -> None:
    assert server_reason(body) == reason


def test_a_long_reason_is_cut() -> None:
    reason = server_reason("x" * 10_000)
    assert len(reason) == 300
    assert reason.endswith("…")


def test_no_server_at_the_address_is_a_one_line_error_naming_the_call() -> None:
    port = PortAllocator().reserve()  # free: nothing listens there
    with (
        ToxiproxyClient(f"http://{LOOPBACK}:{port}", timeout_seconds=1) as client,
        pytest.raises(ToxiproxyError) as raised,
    ):
        client.get_proxy("postgres")
    assert raised.value.status is None
    assert str(raised.value) == (
        f"toxiproxy GET /proxies/postgres at http://{LOOPBACK}:{port}: no answer: "
        "ConnectionRefusedError: [Errno 111] Connection refused"
    )


def test_names_are_quoted_as_one_path_segment() -> None:
    port = PortAllocator().reserve()
    with (
        ToxiproxyClient(f"http://{LOOPBACK}:{port}", timeout_seconds=1) as client,
        pytest.raises(ToxiproxyError, match=r"DELETE /proxies/a%2Fb/toxics/c%3Fd at "),
    ):
        client.remove_toxic("a/b", "c?d")


def test_toxic_refuses_a_spec_and_settings_together() -> None:
    client = ToxiproxyClient(f"http://{LOOPBACK}:9")  # never called
    with (
        pytest.raises(TypeError, match="either a Toxic or a type"),
        toxic(client, "postgres", latency(300), latency=400),
    ):
        pass


# the endpoint and provider --------------------------------------------------------------
def test_proxies_are_named_after_their_service_unless_the_profile_says_otherwise() -> None:
    endpoint = ToxiproxyProvider().from_profile(
        {"url": "http://toxiproxy.staging.example:8474", "proxies": {"postgres": "pg-main"}}
    )
    assert endpoint.proxy_name("postgres") == "pg-main"
    assert endpoint.proxy_name("neo4j") == "neo4j"
    assert endpoint.proxy_name("redis") == "redis"
    assert endpoint.url == endpoint.describe() == "http://toxiproxy.staging.example:8474"


def test_the_profile_url_port_defaults_to_toxiproxys() -> None:
    endpoint = ToxiproxyProvider().from_profile({"url": "http://toxiproxy.example"})
    assert (endpoint.host, endpoint.port, dict(endpoint.proxies)) == ("toxiproxy.example", 8474, {})


@pytest.mark.parametrize(
    "url", ["https://toxiproxy.example:8474", "toxiproxy.example:8474", "http://"]
)
def test_a_profile_url_that_is_not_plain_http_is_refused(url: str) -> None:
    with pytest.raises(ProfileError, match=r"must be http://host\[:port\]"):
        ToxiproxyProvider().from_profile({"url": url})


def test_the_endpoint_is_immutable_and_hashable() -> None:
    mapping = {"postgres": "pg"}
    endpoint = ToxiproxyEndpoint("127.0.0.1", 8474, mapping)
    mapping["postgres"] = "changed"
    assert endpoint.proxy_name("postgres") == "pg"
    assert hash(endpoint) == hash(ToxiproxyEndpoint("127.0.0.1", 8474, {"postgres": "pg"}))
    assert ToxiproxyEndpoint("::1", 8474).url == "http://[::1]:8474"


def test_the_container_is_the_pinned_upstream_image() -> None:
    spec = ToxiproxyProvider().container()
    assert spec.image == IMAGE == f"ghcr.io/shopify/toxiproxy:{VERSION}"
    assert spec.ports == (8474,)


def test_a_missing_server_binary_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELIABILITY_TOOLS_HOME", str(tmp_path / "tools"))
    with pytest.raises(
        MissingToolError, match=r"toxiproxy-server .* not found at .*make bootstrap"
    ):
        ToxiproxyProvider().native(tmp_path, 8474)
