"""Neo4j under the graph workload: its GC pauses, its live heap, its store against the page
cache, next to the latency the workload measured — where a one-second stall of the
session's Neo4j (graph 503s at the target's 1 s timeout, seen once in the gate) would come
from, and whether the harness's sizing (`fixtures/providers/neo4j.py`: 512 MB heap, fixed;
64 MB page cache) fits the seeded store.

One reference target seeded as the session's is (10,000 entities) and warmed as the
suites warm it; then the description's `graph_query` workload at its rate for `--seconds`
(open model, Locust). Neo4j's own GC log (`-Xlog:gc`, written by every native Neo4j the
harness starts) over the run: each stop-the-world pause, the longest, their total, the
heap occupied after each collection (the live set) against the heap; the seconds of the
run whose slowest request took over `--slow` and the pauses inside them; the store's files
on disk against the page cache.

    .venv/bin/python -m bench.neo4j_gc [--seconds 120] [--slow 0.5]
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from fixtures.profile import local_profile
from fixtures.providers.api import ApiProvider
from fixtures.providers.neo4j import MEMORY_SETTINGS, Neo4jEndpoint, Neo4jProvider
from fixtures.providers.postgres import PostgresProvider
from fixtures.providers.redis import RedisProvider
from load.plan import LoadPlan
from load.runner import run_load
from load.traffic import traffic_of
from system.loader import DEFAULT_SYSTEM, load_system

ENTITIES = 10_000  # the session's seed (the description's [local.seed] records)
WORKLOAD = "graph_query"
# `-Xlog:gc:...:uptime,level`: "[12.345s][info] GC(7) Pause Young (Normal) (G1 Evacuation
# Pause) 40M->12M(512M) 3.456ms" (a cause may hold parentheses: "(System.gc())");
# concurrent phases say "Concurrent" and stop nothing.
PAUSE = re.compile(
    r"^\[(?P<uptime>[\d.]+)s\]\[\w+\s*\] GC\(\d+\) (?P<kind>Pause [A-Za-z ]+?)"
    r"(?: \((?:[^()]|\([^()]*\))*\))*(?: (?P<before>\d+)M->(?P<after>\d+)M\((?P<heap>\d+)M\))? "
    r"(?P<ms>[\d.]+)ms$"
)


@dataclass(frozen=True)
class Pause:
    uptime: float  # seconds since the JVM started
    kind: str
    ms: float
    after_mb: int | None
    heap_mb: int | None


def pauses(lines: Sequence[str]) -> list[Pause]:
    """The stop-the-world pauses of G1's log lines."""
    found = []
    for line in lines:
        match = PAUSE.match(line.strip())
        if match is None:
            continue
        after, heap = match.group("after"), match.group("heap")
        found.append(
            Pause(
                float(match.group("uptime")),
                match.group("kind"),
                float(match.group("ms")),
                int(after) if after else None,
                int(heap) if heap else None,
            )
        )
    return found


def jvm_started(home: Path) -> float:
    """Wall-clock start of the Neo4j JVM whose home is `home` (from /proc): its GC log
    counts uptime from there."""
    ticks = os.sysconf("SC_CLK_TCK")
    boot = next(
        float(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime")
    )
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().decode(errors="replace")
            if f"--home-dir={home}" not in command:
                continue
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        return boot + int(fields[19]) / ticks  # field 22: starttime, after pid and comm
    raise SystemExit(f"bench: no Neo4j process with home {home}")


def store_bytes(home: Path) -> int:
    store = home / "data" / "databases" / "neo4j"
    return sum(path.stat().st_size for path in store.rglob("*") if path.is_file())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.neo4j_gc", description=__doc__)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--slow", type=float, default=0.5, help="a second this slow is a stall")
    arguments = parser.parse_args(argv)
    console = Console()
    description = load_system(DEFAULT_SYSTEM).description
    workload = description.workloads[WORKLOAD]
    launcher = ServiceLauncher(Backend.NATIVE, local_profile())
    try:
        postgres = launcher.start(PostgresProvider()).endpoint
        neo4j: Neo4jEndpoint = launcher.start(Neo4jProvider()).endpoint
        redis = launcher.start(RedisProvider()).endpoint
        target = launcher.start(ApiProvider(postgres, neo4j, redis, entities=ENTITIES)).endpoint
        assert neo4j.home is not None  # native
        log = neo4j.home / "gc.log"
        started_jvm = jvm_started(neo4j.home)
        before = len(log.read_text().splitlines())
        with tempfile.TemporaryDirectory(prefix="bench-neo4j-gc-") as directory:
            plan = LoadPlan(
                scenario=WORKLOAD,
                base_url=target.url,
                duration_seconds=arguments.seconds,
                rate_per_second=workload.rate,
                users=None,
                traffic=traffic_of(description, WORKLOAD).with_ids(f"1-{ENTITIES}", None),
            )
            result = run_load(plan, Path(directory))
        time.sleep(1.0)  # the last pause's line
        during = pauses(log.read_text().splitlines()[before:])
        store = store_bytes(neo4j.home)
    finally:
        launcher.close()
    run_start = result.started_at - started_jvm  # JVM uptime at the run's start
    in_run = [p for p in during if run_start <= p.uptime <= run_start + arguments.seconds + 5]
    table = Table(
        title=f"Neo4j under {WORKLOAD} at {workload.rate:g}/s for {arguments.seconds:g} s"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    latency = result.latency
    table.add_row("requests (errors)", f"{result.requests} ({result.errors})")
    for name, q in (("P50", 0.5), ("P95", 0.95), ("P99", 0.99), ("max", 1.0)):
        table.add_row(f"latency {name}", f"{latency.quantile(q) * 1e3:.1f} ms")
    table.add_row("GC pauses", str(len(in_run)))
    table.add_row("longest pause", f"{max((p.ms for p in in_run), default=0.0):.1f} ms")
    table.add_row("pauses in total", f"{sum(p.ms for p in in_run):.1f} ms")
    live = [p.after_mb for p in in_run if p.after_mb is not None]
    heap = next((p.heap_mb for p in in_run if p.heap_mb is not None), None)
    table.add_row("heap after GC (max) / heap", f"{max(live, default=0)} MB / {heap} MB")
    table.add_row(
        "store on disk / page cache",
        f"{store / 2**20:.1f} MB / {MEMORY_SETTINGS['server.memory.pagecache.size']}",
    )
    table.add_row("host busy / stolen", f"{result.generator.host()}")
    console.print(table)
    slow = [s for s in result.timeline if s.max > arguments.slow]
    for second in slow:
        window = (run_start + second.second, run_start + second.second + 1)
        inside = [p for p in in_run if window[0] - 1 <= p.uptime <= window[1]]
        console.print(
            f"second {second.second}: max {second.max * 1e3:.0f} ms, {second.errors} errors; "
            f"GC pauses around it: {', '.join(f'{p.kind} {p.ms:.1f} ms' for p in inside) or 'none'}"
        )
    if not slow:
        console.print(f"no second of the run had a request slower than {arguments.slow:g} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
