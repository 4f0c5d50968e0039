"""The harness's load generator against `wrk`, on the same endpoint of the reference target.

In one run, against one reference target (Postgres, Neo4j and Redis started natively, the
target on loopback, entity reads `GET /entities/{id}` with random ids, all cached):

1. maximum sustained throughput: the harness (closed model, N users, Locust in the load
   child) and `wrk` (N connections) each run flat out for the same time;
2. latency at a rate both sustain (half the lower maximum): the harness in the open model
   at that rate (the default VU pool: each request sent at its intended time by a free
   VU), `wrk` paced to the same rate by its Lua `delay()` hook.

It prints both and the ratios. Aims (issue 3): harness/wrk maximum throughput >= 0.8
(the target, not the generator, is the bottleneck), and at the common rate the harness's
P50 within 1 ms of wrk's. wrk measures latency from the send time, the harness from the
intended send time: at a rate both sustain these coincide.

    .venv/bin/python -m bench.loadgen [--seconds 10] [--users 16]

With `--workers N` it measures instead how the distributed open model scales (issue 25):
the highest rate the generator holds within its drop limit on N workers
(`load.distributed`, one master, N `load.worker` processes on this machine) and on one,
against a target that is not the bottleneck (an asyncio protocol that answers after a
fixed timer without computing), printed as `scaling N workers / 1 worker: R` with each
worker's CPU and the target's at that rate. Aim: R >= 1.5 with 2 workers on 2 cores
(measured: 1.67, docs/benchmarks.md).

    .venv/bin/python -m bench.loadgen --workers 2 [--seconds 5] [--sleep-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from fixtures.lifecycle.ports import PortAllocator
from fixtures.lifecycle.reaper import kill_process_group
from fixtures.profile import local_profile
from fixtures.providers.api import ApiEndpoint, ApiProvider
from fixtures.providers.neo4j import Neo4jProvider
from fixtures.providers.postgres import PostgresProvider
from fixtures.providers.redis import RedisProvider
from fixtures.tools import require_binary
from load.distributed import DistributedResult, run_distributed
from load.plan import LoadPlan
from load.runner import run_load
from load.traffic import MixEntry, Traffic, traffic_of
from system.loader import DEFAULT_SYSTEM, load_system

ENTITIES = 2_000
THROUGHPUT_AIM = 0.8
P50_AIM_MS = 1.0
WRK_SCRIPT = """\
math.randomseed(42)
request = function()
  return wrk.format("GET", "/entities/" .. math.random(1, {entities}))
end
{delay}
"""
_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True)
class Measured:
    throughput: float  # completed requests per second
    p50_ms: float
    errors: int


def run_wrk(
    url: str, connections: int, seconds: float, workdir: Path, rate: float | None
) -> Measured:
    """`wrk` flat out, or paced to `rate` requests/s with a per-connection delay."""
    binary = require_binary("wrk", "wrk")
    delay = "" if rate is None else f"delay = function() return {connections / rate * 1e3:.3f} end"
    script = workdir / "wrk.lua"
    script.write_text(WRK_SCRIPT.format(entities=ENTITIES, delay=delay))
    output = subprocess.run(
        [binary, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> Measured:
    """Requests/sec, the 50 % latency and the error count from wrk's report."""
    throughput = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    if throughput is None or p50 is None:
        raise SystemExit(f"bench: could not read wrk's report:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(count) for count in socket_errors.groups())
    return Measured(
        float(throughput.group(1)), float(p50.group(1)) * _UNIT_MS[p50.group(2)], errors
    )


def run_harness(
    target: ApiEndpoint, users: int, seconds: float, workdir: Path, rate: float | None
) -> Measured:
    plan = LoadPlan(
        scenario="entity_query",
        base_url=target.url,
        duration_seconds=seconds,
        rate_per_second=rate,
        users=None if rate is not None else users,
        traffic=traffic_of(load_system(DEFAULT_SYSTEM).description, "entity_query").with_ids(
            f"1-{ENTITIES}", None
        ),
    )
    result = run_load(plan, workdir)
    problem = result.generator.problem()
    if problem is not None:
        Console(stderr=True).print(f"[yellow]note: {problem}; {result.summary()}")
    return Measured(result.throughput, result.p50 * 1e3, result.errors)


def start_target(launcher: ServiceLauncher) -> ApiEndpoint:
    postgres = launcher.start(PostgresProvider()).endpoint
    neo4j = launcher.start(Neo4jProvider()).endpoint
    redis = launcher.start(RedisProvider()).endpoint
    target: ApiEndpoint = launcher.start(
        ApiProvider(postgres, neo4j, redis, entities=ENTITIES)
    ).endpoint
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--users", type=int, default=16, help="users / wrk connections")
    parser.add_argument("--workers", type=int, help="measure N distributed workers against 1")
    parser.add_argument("--sleep-ms", type=float, default=50.0, help="--workers: target sleep")
    parser.add_argument("--serve-sleep", type=int, help=argparse.SUPPRESS)  # the sleep target
    args = parser.parse_args()
    if args.serve_sleep is not None:
        asyncio.run(serve_sleep(args.serve_sleep, args.sleep_ms / 1e3))
        return
    if args.workers is not None:
        scaling(args.workers, args.seconds, args.sleep_ms / 1e3)
        return
    require_binary("wrk", "wrk")
    launcher = ServiceLauncher(Backend.NATIVE, local_profile())
    workdir = Path(tempfile.mkdtemp(prefix="bench-loadgen-"))
    try:
        target = start_target(launcher)
        url = f"{target.url}/"
        run_wrk(url, args.users, 3, workdir, None)  # fills the cache: both then read from Redis
        wrk_max = run_wrk(url, args.users, args.seconds, workdir, None)
        harness_max = run_harness(target, args.users, args.seconds, workdir / "max", None)
        rate = round(0.5 * min(wrk_max.throughput, harness_max.throughput))
        wrk_paced = run_wrk(url, args.users, args.seconds, workdir, rate)
        harness_paced = run_harness(target, args.users, args.seconds, workdir / "paced", rate)
    finally:
        launcher.close()
        shutil.rmtree(workdir, ignore_errors=True)
    report(wrk_max, harness_max, rate, wrk_paced, harness_paced)


def report(
    wrk_max: Measured,
    harness_max: Measured,
    rate: float,
    wrk_paced: Measured,
    harness_paced: Measured,
) -> None:
    table = Table(title="harness load generator vs wrk, GET /entities/{id} on the reference target")
    for column in ("measure", "harness", "wrk", "ratio / difference", "aim"):
        table.add_column(column, justify="right")
    ratio = harness_max.throughput / wrk_max.throughput
    table.add_row(
        "max throughput (req/s)",
        f"{harness_max.throughput:.0f}",
        f"{wrk_max.throughput:.0f}",
        f"{ratio:.2f}",
        f">= {THROUGHPUT_AIM}",
    )
    difference = harness_paced.p50_ms - wrk_paced.p50_ms
    table.add_row(
        f"P50 at {rate:.0f} req/s (ms)",
        f"{harness_paced.p50_ms:.2f}",
        f"{wrk_paced.p50_ms:.2f}",
        f"{difference:+.2f} ms",
        f"|diff| <= {P50_AIM_MS:g} ms",
    )
    table.add_row(
        "throughput at that rate",
        f"{harness_paced.throughput:.0f}",
        f"{wrk_paced.throughput:.0f}",
        f"{harness_paced.throughput / wrk_paced.throughput:.2f}",
        "~1",
    )
    table.add_row(
        "errors (max, paced)",
        f"{harness_max.errors}, {harness_paced.errors}",
        f"{wrk_max.errors}, {wrk_paced.errors}",
        "",
        "0",
    )
    Console().print(table)


# --workers: the distributed generator's scaling ----------------------------------------
SLEEP_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
SCALING_START_RATE = 200.0
SCALING_STEPS = 10  # doublings, then halvings of the interval: bounded whatever happens
BISECTIONS = 3


class SleepAnswer(asyncio.Protocol):
    """HTTP/1.1 keep-alive: each request head answered `{}` after the delay, by a timer.

    A protocol with one timer per request, not a coroutine and a stream reader: the target
    must cost as little CPU as possible, so that on this machine the generator, not the
    target, runs out first (the point of the scaling measurement)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        *heads, self.buffer = self.buffer.split(b"\r\n\r\n")
        loop = asyncio.get_running_loop()
        for _ in heads:  # GET requests: no body
            loop.call_later(self.delay, self._answer)

    def _answer(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(SLEEP_ANSWER)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve_sleep(port: int, delay: float) -> None:
    """An HTTP/1.1 keep-alive server on 127.0.0.1 that answers `{}` after `delay`."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SleepAnswer(delay), "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def sleep_plan(url: str, rate: float, seconds: float, delay: float) -> LoadPlan:
    return LoadPlan(
        scenario="sleep",
        base_url=url,
        duration_seconds=seconds,
        rate_per_second=rate,
        max_in_flight=max(16, math.ceil(rate * delay * 4)),
        traffic=Traffic(mix=(MixEntry("GET", "/sleep", "GET /sleep"),)),
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def highest_held_rate(
    url: str, workers: int, seconds: float, delay: float, workdir: Path, *, target_pid: int
) -> tuple[float, DistributedResult | None, float]:
    """The highest rate (its run, and the target's CPU share during it) at which `workers`
    workers drop within the limit."""
    held: tuple[float, DistributedResult | None, float] = (0.0, None, 0.0)
    failed: float | None = None
    rate, bisections = SCALING_START_RATE, 0
    for step in range(SCALING_STEPS + BISECTIONS):
        plan = sleep_plan(url, rate, seconds, delay)
        before, started = cpu_seconds(target_pid), time.monotonic()
        result = run_distributed(plan, workdir / f"{workers}-{step}", workers=workers)
        target_cpu = (cpu_seconds(target_pid) - before) / (time.monotonic() - started)
        verdict = "held" if result.valid else f"not held ({result.reason})"
        Console(stderr=True).print(f"{workers} worker(s) at {rate:.0f}/s: {verdict}")
        if result.valid:
            held = (rate, result, target_cpu)
        else:
            failed = rate
        if failed is None:
            rate *= 2
            continue
        if held[1] is None or bisections >= BISECTIONS:
            break
        bisections += 1
        rate = (held[0] + failed) / 2
    return held


def scaling(workers: int, seconds: float, delay: float) -> None:
    port = PortAllocator().reserve()
    workdir = Path(tempfile.mkdtemp(prefix="bench-loadgen-workers-"))
    serve = ["--serve-sleep", str(port), "--sleep-ms", str(delay * 1e3)]
    target = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", *serve],
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/", timeout=2).close()  # noqa: S310 - loopback
                break
            except OSError:
                time.sleep(0.1)
        one, one_run, one_target = highest_held_rate(
            url, 1, seconds, delay, workdir, target_pid=target.pid
        )
        many, many_run, many_target = highest_held_rate(
            url, workers, seconds, delay, workdir, target_pid=target.pid
        )
    finally:
        kill_process_group(target.pid)
        target.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    for rate, run, target_cpu in ((one, one_run, one_target), (many, many_run, many_target)):
        if run is not None:
            cpus = ", ".join(f"{w['name']} {w['cpu']:.0%}" for w in run.workers)
            print(
                f"{len(run.workers)} worker(s): held {rate:.0f}/s; CPU per worker: {cpus}; "
                f"the target's CPU {target_cpu:.0%} (this machine: {os.cpu_count()} cores, "
                "shared by the target, the master and the workers)"
            )
    ratio = many / one if one else float("nan")
    print(f"scaling {workers} workers / 1 worker: {ratio:.2f}")


if __name__ == "__main__":
    main()
