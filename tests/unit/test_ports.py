"""Port allocation: below the ephemeral range, never twice, never one already bound."""

from __future__ import annotations

import socket

import pytest

from fixtures.lifecycle.ports import SERVER_PORT_RANGE, PortAllocator, port_is_free


def test_ports_are_below_the_ephemeral_range_and_distinct() -> None:
    allocator = PortAllocator()
    ports = [allocator.reserve() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(port < 32768 and port in SERVER_PORT_RANGE for port in ports)


def test_a_bound_port_is_never_handed_out() -> None:
    port = PortAllocator().reserve()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert not port_is_free(port)
        with pytest.raises(RuntimeError, match="no free loopback port"):
            PortAllocator(port_range=range(port, port + 1)).reserve()
