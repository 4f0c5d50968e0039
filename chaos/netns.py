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

`lan(count)` makes a small LAN of such namespaces instead, for programs that must run on
hosts of their own (a load master and its workers, a target): one L2 bridge living in a
namespace of its own (the switch), each member joined to it by a veth pair, and the host
joined too (a plain veth end, like `namespace()`'s; no bridge, forwarding or firewall rule
on the host), all in one 10.213.K.0/24:

    host 10.213.K.1 (rhvKh)  --+
    member 0 10.213.K.2 (rhvKm0, namespace rh-<pid>-K-0)  --+-- bridge rhvKbr in rh-<pid>-K-sw
    member 1 10.213.K.3 (rhvKm1, namespace rh-<pid>-K-1)  --+
    ...

Every link's name starts with `rhv`, so `load.plan.is_local` accepts the LAN's addresses
on the host and inside every member. Deleting the switch namespace cuts every veth pair.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import time
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
    host_ip: str  # the host's end: proxies for the target listen here (on a LAN: the host's)
    ns_ip: str  # the target's address inside the namespace
    host_link: str  # "" for a LAN member: its veth pair goes to the LAN's switch
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
    for k in _free_subnets():
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


def _free_subnets() -> Iterator[int]:
    """Third octets K of 10.213.K.0/24 no address on this host is in, this process's first."""
    used = _used_subnets()
    for k in itertools.chain(range(1 + os.getpid() % 200, 256), range(1, 256)):
        if k not in used:
            yield k


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
    for pid in pids(ns.name):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, 9)
    _run(["ip", "netns", "delete", ns.name])
    if ns.host_link:
        _run(["ip", "link", "delete", ns.host_link])  # if the namespace was half made


def pids(name: str) -> list[int]:
    """The processes running in namespace `name` (none when it does not exist)."""
    words = _run(["ip", "netns", "pids", name]).stdout.split()
    return [int(word) for word in words if word.isdigit()]


def exists(name: str) -> bool:
    return name in _run(["ip", "netns", "list"]).stdout.split()


def link_exists(name: str) -> bool:
    """True while the host has a link called `name`."""
    return _run(["ip", "link", "show", "dev", name]).returncode == 0


# a LAN of namespaces -----------------------------------------------------------------------
LAN_MAX_MEMBERS = 200  # 10.213.K.2 .. 10.213.K.201
LINK_GONE_SECONDS = 5.0  # for the kernel to destroy a deleted namespace's veth pairs


@dataclass(frozen=True)
class Lan:
    """Members on one L2 bridge (in the `switch` namespace), the host joined on `host_ip`."""

    switch: str
    host_ip: str
    host_link: str
    members: tuple[Namespace, ...]

    def names(self) -> list[str]:
        """Every namespace of the LAN, the switch first."""
        return [self.switch, *(member.name for member in self.members)]


@contextlib.contextmanager
def lan(count: int, reaper: Reaper | None = None) -> Iterator[Lan]:
    """`count` namespaces and the host on one 10.213.K.0/24 LAN; removed on every way out
    (by the reaper, when given, if this process dies first)."""
    if not isinstance(count, int) or not 1 <= count <= LAN_MAX_MEMBERS:
        raise FaultSpecError(f"lan: {count!r} members; give 1 to {LAN_MAX_MEMBERS}")
    problem = namespaces_available()
    if problem is not None:
        raise FaultRefusedError(problem)
    made = _create_lan(count, reaper)
    try:
        yield made
    finally:
        delete_lan(made, reaper)


def _create_lan(count: int, reaper: Reaper | None) -> Lan:
    for k in _free_subnets():
        prefix = f"rh-{os.getpid()}-{k}"
        candidate = Lan(
            switch=f"{prefix}-sw",
            host_ip=f"{SUBNET}.{k}.1",
            host_link=f"rhv{k}h",
            members=tuple(
                Namespace(
                    name=f"{prefix}-{index}",
                    host_ip=f"{SUBNET}.{k}.1",
                    ns_ip=f"{SUBNET}.{k}.{index + 2}",
                    host_link="",
                    ns_link=f"rhv{k}m{index}",
                )
                for index in range(count)
            ),
        )
        if _try_create_lan(candidate, k, reaper):
            return candidate
    raise FaultRefusedError(f"no free {SUBNET}.K.0/24 subnet for a LAN of namespaces")


def _veth(end: str, peer: str, peer_namespace: str) -> list[str]:
    """`ip link` arguments: a veth pair `end` <-> `peer`, the peer in `peer_namespace`."""
    return ["link", "add", end, "type", "veth", "peer", "name", peer, "netns", peer_namespace]


def _try_create_lan(made: Lan, k: int, reaper: Reaper | None) -> bool:
    switch, bridge, uplink = made.switch, f"rhv{k}br", f"rhv{k}ph"
    if _run(["ip", "netns", "add", switch]).returncode != 0:
        return False
    if reaper is not None:
        reaper.track_undo(switch, Undo("netns", name=switch))
    try:
        # the host's leg first: its name is the lock on K against every other allocator
        _check(["ip", *_veth(made.host_link, uplink, switch)])
        for step in (
            ["link", "add", bridge, "type", "bridge", "forward_delay", "0"],
            ["link", "set", uplink, "master", bridge],
            ["link", "set", uplink, "up"],
            ["link", "set", bridge, "up"],
        ):
            _check(["ip", "-n", switch, *step])
        _check(["ip", "addr", "add", f"{made.host_ip}/24", "dev", made.host_link])
        _check(["ip", "link", "set", made.host_link, "up"])
        for index, member in enumerate(made.members):
            _check(["ip", "netns", "add", member.name])
            if reaper is not None:
                reaper.track_undo(member.name, Undo("netns", name=member.name))
            port = f"rhv{k}p{index}"
            for step in (
                _veth(port, member.ns_link, member.name),
                ["link", "set", port, "master", bridge],
                ["link", "set", port, "up"],
            ):
                _check(["ip", "-n", switch, *step])
            for step in (
                ["addr", "add", f"{member.ns_ip}/24", "dev", member.ns_link],
                ["link", "set", member.ns_link, "up"],
                ["link", "set", "lo", "up"],
            ):
                _check(["ip", "-n", member.name, *step])
    except FaultRefusedError:
        _remove_lan(made, reaper)  # the host's leg, if it is another's, stays
        return False
    return True


def delete_lan(made: Lan, reaper: Reaper | None = None) -> None:
    """Kill what runs in the members, delete every namespace; wait for the host's leg to
    go (the kernel cuts the veth pairs when the switch namespace is destroyed)."""
    _remove_lan(made, reaper)
    end = time.monotonic() + LINK_GONE_SECONDS
    while link_exists(made.host_link) and time.monotonic() < end:
        time.sleep(0.02)


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


def _remove_lan(made: Lan, reaper: Reaper | None) -> None:
    for member in made.members:
        delete(member)
    _run(["ip", "netns", "delete", made.switch])
    if reaper is not None:
        for name in made.names():
            reaper.untrack_undo(name)
