"""The native Neo4j provider runs the real server: Bolt on loopback only, as the service
user, real transactions, a clean stop (the store can be dumped offline) and nothing left
behind once it is stopped."""

from __future__ import annotations

import ipaddress
import pwd
import socket
from pathlib import Path

import pytest

from fixtures.launcher import RunningService, ServiceLauncher
from fixtures.lifecycle.ports import LOOPBACK
from fixtures.lifecycle.reaper import process_group_alive
from fixtures.providers.neo4j import CLASS_ARCHIVE, Neo4jEndpoint, Neo4jProvider, neo4j_admin
from fixtures.tools import hand_to_service_user, service_user

pytestmark = pytest.mark.integration

TCP_LISTEN = "0A"


@pytest.fixture
def neo4j_service(launcher: ServiceLauncher) -> RunningService[Neo4jEndpoint]:
    return launcher.start(Neo4jProvider())


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """The TCP addresses process `pid` listens on (from /proc: no `ss` needed)."""
    fd_dir = Path(f"/proc/{pid}/fd")
    inodes = set()
    for fd in fd_dir.iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("tcp", "tcp6"):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == TCP_LISTEN and inode in inodes:
                found.add(_decode(local))
    return found


def _decode(local: str) -> tuple[str, int]:
    """'0100007F:1F90' or a tcp6 address: 4 little-endian 32-bit words, then the port."""
    address_hex, port_hex = local.split(":")
    raw = bytes.fromhex(address_hex)
    raw = b"".join(raw[index : index + 4][::-1] for index in range(0, len(raw), 4))
    address = ipaddress.ip_address(raw)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address), int(port_hex, 16)


def accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_native_neo4j_stores_rolls_back_and_stops_cleanly(
    neo4j_service: RunningService[Neo4jEndpoint],
) -> None:
    endpoint = neo4j_service.endpoint
    process = neo4j_service.process
    assert process is not None
    assert endpoint.home is not None
    home = endpoint.home
    assert (endpoint.host, endpoint.uri) == (LOOPBACK, f"bolt://{LOOPBACK}:{endpoint.port}")

    # Bolt on loopback is the only port it opens; it runs as the service user.
    assert listening_addresses(process.pid) == {(LOOPBACK, endpoint.port)}
    user = service_user()
    if user is not None:
        assert Path(f"/proc/{process.pid}").stat().st_uid == pwd.getpwnam(user).pw_uid

    with endpoint.driver() as driver:
        driver.execute_query(
            "CREATE (:Entity {id: 1, name: 'a'})-[:LINKS {weight: 3}]->(:Entity {id: 2, name: 'b'})"
        )
        records, _, _ = driver.execute_query(
            "MATCH (a:Entity)-[r:LINKS]->(b:Entity) RETURN a.name AS a, r.weight AS w, b.name AS b"
        )
        assert [(r["a"], r["w"], r["b"]) for r in records] == [("a", 3, "b")]

        with driver.session() as session:
            transaction = session.begin_transaction()
            transaction.run("MATCH (a:Entity {id: 1}) CREATE (a)-[:LINKS]->(:Entity {id: 3})")
            inside = transaction.run("MATCH (n:Entity) RETURN count(n) AS n").single(strict=True)
            assert inside["n"] == 3  # the write happened inside the transaction...
            transaction.rollback()
        records, _, _ = driver.execute_query(
            "MATCH (n:Entity) OPTIONAL MATCH (n)-[r:LINKS]->() "
            "RETURN count(DISTINCT n) AS nodes, count(r) AS links"
        )
        assert (records[0]["nodes"], records[0]["links"]) == (2, 1)  # ...and was discarded

    neo4j_service.stop()

    assert not accepts_connections(endpoint.host, endpoint.port)
    assert not process.is_running()
    assert process.exit_code is not None
    assert not process_group_alive(process.pid)
    assert not home.exists()


def test_a_stopped_native_neo4j_can_be_dumped_offline(
    neo4j_service: RunningService[Neo4jEndpoint],
) -> None:
    """What DR suites do: stop the server process (keeping its home), dump with neo4j-admin.
    A dump refuses a store that was not shut down cleanly, so this also checks the stop."""
    endpoint = neo4j_service.endpoint
    assert endpoint.home is not None
    assert endpoint.classpath_dir is not None
    assert neo4j_service.process is not None
    with endpoint.driver() as driver:
        driver.execute_query("CREATE (:Entity {id: 1})")

    neo4j_service.process.stop()
    dumps = endpoint.home / "dumps"
    dumps.mkdir()
    hand_to_service_user(dumps)  # the admin tool runs as the server's user
    output = neo4j_admin(endpoint, "database", "dump", "neo4j", f"--to-path={dumps}")

    dump = dumps / "neo4j.dump"
    assert dump.is_file(), output
    assert dump.stat().st_size > 0


def test_a_native_neo4j_maps_the_class_archive_bootstrap_recorded(
    neo4j_service: RunningService[Neo4jEndpoint],
) -> None:
    """scripts/bootstrap records the classes Neo4j loads (a CDS archive beside its jars);
    the server's JVM maps it instead of loading them again (a third off every start)."""
    assert neo4j_service.endpoint.classpath_dir is not None
    archive = neo4j_service.endpoint.classpath_dir.parent / CLASS_ARCHIVE
    assert archive.is_file(), f"{archive} missing: scripts/bootstrap records it"
    assert neo4j_service.process is not None
    # the JVM is the process group's leader (the launcher starts java itself)
    maps = Path(f"/proc/{neo4j_service.process.pid}/maps").read_text()
    assert str(archive) in maps
