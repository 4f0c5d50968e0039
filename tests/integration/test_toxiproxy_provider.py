"""The real Toxiproxy server, started natively by the launcher, faults real TCP traffic.

Each test starts its own Toxiproxy and a loopback echo server of its own, and puts a proxy
between them: bytes go through, a latency toxic delays them and is gone after its block
(also when the block raises), a disabled proxy refuses connections, and after stopping
nothing listens on any port the test used.
"""

from __future__ import annotations

import os
import pwd
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.backend import Backend
from fixtures.launcher import RunningService, ServiceLauncher
from fixtures.lifecycle.ports import LOOPBACK, PortAllocator
from fixtures.providers.toxiproxy import VERSION, ToxiproxyEndpoint, ToxiproxyProvider
from fixtures.tools import service_user
from fixtures.toxiproxy_client import Proxy, ToxiproxyClient, ToxiproxyError, latency, toxic

pytestmark = pytest.mark.integration

LATENCY_MS = 300
IO_TIMEOUT_SECONDS = 5.0
PROXY_NAME = "echo"


# a loopback echo server of the test's own -------------------------------------------------
class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        connection: socket.socket = self.request
        try:
            while data := connection.recv(65536):
                connection.sendall(data)
        except OSError:
            pass  # the proxy reset or closed the connection: nothing left to echo


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@dataclass
class Rig:
    launcher: ServiceLauncher
    service: RunningService[ToxiproxyEndpoint]
    client: ToxiproxyClient
    echo: EchoServer
    proxy: Proxy


@pytest.fixture
def ports() -> PortAllocator:
    return PortAllocator()


@pytest.fixture
def echo(ports: PortAllocator) -> Iterator[EchoServer]:
    server = EchoServer((LOOPBACK, ports.reserve()), _EchoHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(IO_TIMEOUT_SECONDS)


@pytest.fixture
def rig(launcher: ServiceLauncher, echo: EchoServer, ports: PortAllocator) -> Iterator[Rig]:
    service = launcher.start(ToxiproxyProvider())
    with service.endpoint.client() as client:
        proxy = client.create_proxy(
            PROXY_NAME, f"{LOOPBACK}:{ports.reserve()}", f"{LOOPBACK}:{echo.port}"
        )
        yield Rig(launcher, service, client, echo, proxy)


# helpers --------------------------------------------------------------------------------
def round_trip(port: int, payload: bytes = b"ping") -> tuple[bytes, float]:
    """Send `payload` through a new connection to `port`; what came back, and how long."""
    with socket.create_connection((LOOPBACK, port), timeout=IO_TIMEOUT_SECONDS) as connection:
        return exchange(connection, payload)


def exchange(connection: socket.socket, payload: bytes) -> tuple[bytes, float]:
    started = time.monotonic()
    connection.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = connection.recv(len(payload) - len(received))
        if not chunk:
            break
        received += chunk
    return received, time.monotonic() - started


def listening(port: int) -> bool:
    """True when something accepts TCP connections on (loopback, port).

    A connect, not a bind: a port can be unbindable for a while after its server is gone
    (connections it closed first sit in TIME_WAIT) while nothing listens on it."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1.0):
            return True
    except OSError:
        return False


# the tests ------------------------------------------------------------------------------
def test_the_server_answers_with_its_version_as_the_service_user(rig: Rig) -> None:
    assert rig.service.backend is Backend.NATIVE
    assert rig.service.endpoint.host == LOOPBACK
    # "git" is what a server built by `go install` without -ldflags -X ...Version= says
    assert rig.client.version() in {VERSION, "git"}
    assert rig.service.startup_seconds < ToxiproxyProvider.ready_deadline_seconds
    user = service_user()
    if user is not None:  # we are root: the server must not be
        assert rig.service.process is not None
        status = Path(f"/proc/{rig.service.process.pid}/status").read_text().splitlines()
        uids = next(line.split()[1:] for line in status if line.startswith("Uid:"))
        assert {int(uid) for uid in uids} == {pwd.getpwnam(user).pw_uid}


def test_bytes_go_through_the_proxy(rig: Rig) -> None:
    payload = os.urandom(64 * 1024)
    received, _ = round_trip(rig.proxy.listen_port, payload)
    assert received == payload
    assert rig.client.get_proxy(PROXY_NAME) == rig.proxy
    assert rig.client.proxies() == {PROXY_NAME: rig.proxy}


def test_a_latency_toxic_delays_the_round_trip_until_its_block_ends(rig: Rig) -> None:
    port = rig.proxy.listen_port
    _, before = round_trip(port)
    assert before < LATENCY_MS / 1000 / 2

    with toxic(rig.client, PROXY_NAME, latency(LATENCY_MS)) as added:
        assert added.attributes["latency"] == LATENCY_MS
        assert rig.client.toxics(PROXY_NAME) == [added]
        received, during = round_trip(port)
        assert received == b"ping"
        assert during >= LATENCY_MS / 1000

    assert rig.client.toxics(PROXY_NAME) == []
    received, after = round_trip(port)
    assert received == b"ping"
    assert after < LATENCY_MS / 1000


def test_the_toxic_is_removed_when_its_block_raises(rig: Rig) -> None:
    def failing_block() -> None:
        with toxic(rig.client, PROXY_NAME, "latency", latency=LATENCY_MS):
            assert [t.type for t in rig.client.toxics(PROXY_NAME)] == ["latency"]
            raise RuntimeError("the test body failed")

    with pytest.raises(RuntimeError, match="the test body failed"):
        failing_block()
    assert rig.client.toxics(PROXY_NAME) == []
    _, elapsed = round_trip(rig.proxy.listen_port)
    assert elapsed < LATENCY_MS / 1000


def test_a_toxic_already_gone_when_its_block_ends_is_fine(rig: Rig) -> None:
    with toxic(rig.client, PROXY_NAME, latency(LATENCY_MS)):
        rig.client.reset()  # removes every toxic, this one included
    with toxic(rig.client, PROXY_NAME, latency(LATENCY_MS)):
        rig.client.delete_proxy(PROXY_NAME)
    assert rig.client.proxies() == {}


def test_a_failed_removal_keeps_the_blocks_own_error_and_notes_it(rig: Rig) -> None:
    def block_that_loses_the_server() -> None:
        with toxic(rig.client, PROXY_NAME, latency(LATENCY_MS)):
            rig.service.stop()
            raise RuntimeError("the test body failed")

    with pytest.raises(RuntimeError, match="the test body failed") as raised:
        block_that_loses_the_server()
    notes = getattr(raised.value, "__notes__", [])
    assert len(notes) == 1
    assert notes[0].startswith(
        f"and toxic 'latency_downstream' may still be on proxy '{PROXY_NAME}': "
        f"toxiproxy DELETE /proxies/{PROXY_NAME}/toxics/latency_downstream at "
    )
    assert "no answer" in notes[0]


def test_a_failed_call_names_the_call_status_and_reason(rig: Rig) -> None:
    with pytest.raises(ToxiproxyError) as raised:
        rig.client.create_proxy(PROXY_NAME, f"{LOOPBACK}:0", f"{LOOPBACK}:{rig.echo.port}")
    assert raised.value.status == 409
    assert str(raised.value) == (
        f"toxiproxy POST /proxies at {rig.service.endpoint.url}: 409 Conflict: proxy already exists"
    )
    with pytest.raises(ToxiproxyError, match=r"404 Not Found: proxy not found$"):
        rig.client.get_proxy("no-such-proxy")


def test_a_disabled_proxy_refuses_connections_and_drops_open_ones(rig: Rig) -> None:
    port = rig.proxy.listen_port
    with socket.create_connection((LOOPBACK, port), timeout=IO_TIMEOUT_SECONDS) as held:
        assert exchange(held, b"before")[0] == b"before"

        disabled = rig.client.disable_proxy(PROXY_NAME)

        assert not disabled.enabled
        assert not rig.client.get_proxy(PROXY_NAME).enabled
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((LOOPBACK, port), timeout=IO_TIMEOUT_SECONDS)
        try:
            received, _ = exchange(held, b"after")
        except OSError:  # reset by the proxy
            received = b""
        assert received == b""

    assert rig.client.enable_proxy(PROXY_NAME).enabled
    assert round_trip(port)[0] == b"ping"


def test_reset_enables_every_proxy_and_removes_every_toxic(rig: Rig) -> None:
    rig.client.add_toxic(PROXY_NAME, latency(LATENCY_MS))
    rig.client.disable_proxy(PROXY_NAME)
    rig.client.reset()
    assert rig.client.get_proxy(PROXY_NAME) == rig.proxy
    assert round_trip(rig.proxy.listen_port)[0] == b"ping"


def test_after_stopping_nothing_listens_on_any_port_used(rig: Rig) -> None:
    used = {
        "toxiproxy api": rig.service.endpoint.port,
        "proxy": rig.proxy.listen_port,
        "echo server": rig.echo.port,
    }
    assert round_trip(rig.proxy.listen_port)[0] == b"ping"
    assert all(listening(port) for port in used.values())

    rig.service.stop()
    rig.echo.shutdown()
    rig.echo.server_close()

    assert rig.service.process is not None
    assert not rig.service.process.is_running()
    still = {what: port for what, port in used.items() if listening(port)}
    assert not still, f"still listening after stop: {still}"
    assert rig.launcher.running() == ()
