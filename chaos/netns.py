"""A network namespace of the harness's own, and a true partition below TCP inside it.

Toxiproxy works at the TCP layer: a `timeout` toxic blackholes data, but a new connection
to it is still accepted. A real partition drops packets, so a connect times out instead.
No such fault exists on loopback, and the harness never changes the host's own firewall;
instead a target can run in a namespace the harness creates:

    host  10.213.K.1 (veth rhvKh)  <->  10.213.K.2 (veth rhvKn)  namespace rh-<pid>-K

The target listens on 10.213.K.2, its proxies (Toxiproxy) listen on 10.213.K.1, and
`partitioned(ns, port)` adds `iptables` DROP rules *inside the namespace* for the traffic
to and from that one port: packets vanish, both ways, for the target only. Deleting the
namespace (at the end, or by the reaper if the harness dies) removes its veth pair and its
rules with it. Needs root and `ip`/`iptables` (`namespaces_available` says why not).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from chaos.errors import FaultSpecError
from fixtures.errors import FaultRefusedError
from fixtures.lifecycle.reaper import Reaper, Undo

SUBNET = "10.213"
COMMAND_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class Namespace:
    name: str
    host_ip: str  # the host's end: proxies for the target listen here
    ns_ip: str  # the target's address inside the namespace
    host_link: str
    ns_link: str

    def exec_argv(self, argv: list[str]) -> list[str]:
        """`argv` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]


def namespaces_available() -> str | None:
    """None when namespaces can be made here, else why not (one line)."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns); run as root or skip the partition"
    missing = [tool for tool in ("ip", "iptables") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (Debian: iproute2, iptables)"
    return None


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False
    )


def _check(argv: list[str]) -> None:
    done = _run(argv)
    if done.returncode != 0:
        raise FaultRefusedError(f"{' '.join(argv)} failed: {done.stderr.strip()[:200]}")


@contextlib.contextmanager
def namespace(reaper: Reaper | None = None) -> Iterator[Namespace]:
    """A fresh namespace with a veth pair to the host; deleted on every way out."""
    problem = namespaces_available()
    if problem is not None:
        raise FaultRefusedError(problem)
    made = _create()
    if reaper is not None:
        reaper.track_undo(made.name, Undo("netns", name=made.name))
    try:
        yield made
    finally:
        delete(made)
        if reaper is not None:
            reaper.untrack_undo(made.name)


def _create() -> Namespace:
    used = _used_subnets()
    for k in itertools.chain(range(1 + os.getpid() % 200, 256), range(1, 256)):
        if k in used:
            continue
        candidate = Namespace(
            name=f"rh-{os.getpid()}-{k}",
            host_ip=f"{SUBNET}.{k}.1",
            ns_ip=f"{SUBNET}.{k}.2",
            host_link=f"rhv{k}h",
            ns_link=f"rhv{k}n",
        )
        if _try_create(candidate):
            return candidate
    raise FaultRefusedError(f"no free {SUBNET}.K.0/30 subnet for a network namespace")


def _used_subnets() -> set[int]:
    listing = _run(["ip", "-o", "-4", "addr", "show"]).stdout
    used = set()
    for word in listing.split():
        if word.startswith(f"{SUBNET}."):
            with contextlib.suppress(ValueError, IndexError):
                used.add(int(word.split(".")[2]))
    return used


def _try_create(ns: Namespace) -> bool:
    if _run(["ip", "netns", "add", ns.name]).returncode != 0:
        return False
    try:
        steps = [
            ["ip", "link", "add", ns.host_link, "type", "veth", "peer", "name", ns.ns_link],
            ["ip", "link", "set", ns.ns_link, "netns", ns.name],
            ["ip", "addr", "add", f"{ns.host_ip}/30", "dev", ns.host_link],
            ["ip", "link", "set", ns.host_link, "up"],
            ["ip", "-n", ns.name, "addr", "add", f"{ns.ns_ip}/30", "dev", ns.ns_link],
            ["ip", "-n", ns.name, "link", "set", ns.ns_link, "up"],
            ["ip", "-n", ns.name, "link", "set", "lo", "up"],
        ]
        for step in steps:
            _check(step)
    except FaultRefusedError:
        delete(ns)
        return False
    return True


def delete(ns: Namespace) -> None:
    """Kill what runs inside, delete the namespace (its veth pair goes with it)."""
    pids = _run(["ip", "netns", "pids", ns.name]).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
            os.kill(int(pid), 9)
    _run(["ip", "netns", "delete", ns.name])
    _run(["ip", "link", "delete", ns.host_link])  # if the namespace was half made


def exists(name: str) -> bool:
    return name in _run(["ip", "netns", "list"]).stdout.split()


@contextlib.contextmanager
def partitioned(ns: Namespace, port: int, reaper: Reaper | None = None) -> Iterator[None]:
    """Drop every packet between the namespace and `port` on the host, both ways."""
    if not 0 < port < 65536:
        raise FaultSpecError(f"partition: port {port} is not a TCP port")
    rules = [
        ["OUTPUT", "-p", "tcp", "-d", ns.host_ip, "--dport", str(port), "-j", "DROP"],
        ["INPUT", "-p", "tcp", "-s", ns.host_ip, "--sport", str(port), "-j", "DROP"],
    ]
    key = f"partition-{ns.name}-{port}"
    if reaper is not None:
        undo = [ns.exec_argv(["iptables", "-D", *rule]) for rule in rules]
        argv = ["sh", "-c", " ; ".join(" ".join(step) for step in undo)]
        reaper.track_undo(key, Undo("command", argv=argv))
    try:
        for rule in rules:
            _check(ns.exec_argv(["iptables", "-A", *rule]))
        yield
    finally:
        for rule in rules:
            _run(ns.exec_argv(["iptables", "-D", *rule]))
        if reaper is not None:
            reaper.untrack_undo(key)
