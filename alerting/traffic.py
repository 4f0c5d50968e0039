"""Bounded background traffic to the target: loopback only, stopped by time and by count."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import requests

from load.plan import is_loopback

MAX_REQUESTS = 20_000
REQUEST_TIMEOUT_SECONDS = 10.0
CREATE_DEADLINE_SECONDS = 30.0


class Traffic:
    """`concurrency` threads cycling through `paths` until `stop()`, the deadline or the cap,
    each pausing `pause_seconds` after every answer (0: as fast as the target answers)."""

    def __init__(
        self,
        base_url: str,
        paths: Sequence[str],
        concurrency: int,
        deadline_seconds: float,
        pause_seconds: float = 0.0,
    ) -> None:
        host = urlsplit(base_url).hostname or ""
        if not is_loopback(host):
            raise ValueError(f"alert suites send traffic to loopback only, not to {base_url}")
        self.base_url = base_url
        self._pause = pause_seconds
        self._paths = itertools.cycle(paths)
        self._lock = threading.Lock()
        self._sent = 0
        self._stop = threading.Event()
        self._deadline = time.monotonic() + deadline_seconds
        self._threads = [
            threading.Thread(target=self._run, daemon=True) for _ in range(concurrency)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def sent(self) -> int:
        return self._sent

    def _next(self) -> str | None:
        with self._lock:
            if self._stop.is_set() or self._sent >= MAX_REQUESTS:
                return None
            if time.monotonic() >= self._deadline:
                return None
            self._sent += 1
            return next(self._paths)

    def _run(self) -> None:
        with requests.Session() as session:
            while (path := self._next()) is not None:
                try:
                    session.get(f"{self.base_url}{path}", timeout=REQUEST_TIMEOUT_SECONDS)
                except requests.RequestException:
                    time.sleep(0.05)  # a dead target: do not spin
                if self._pause:
                    self._stop.wait(self._pause)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_SECONDS + 1)

    def __enter__(self) -> Traffic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_entities(base_url: str, count: int) -> list[int]:
    """`count` entities created through the target's API, each linked to the two before it
    (so graph reads traverse real links); their ids, in order. Loopback only."""
    host = urlsplit(base_url).hostname or ""
    if not is_loopback(host):
        raise ValueError(f"alert suites write to loopback targets only, not to {base_url}")
    ids: list[int] = []
    deadline = time.monotonic() + CREATE_DEADLINE_SECONDS
    with requests.Session() as session:
        while len(ids) < count:
            body = {"name": f"normal-load-{len(ids)}", "kind": "alert-suite", "links": ids[-2:]}
            answer = session.post(
                f"{base_url}/entities", json=body, timeout=REQUEST_TIMEOUT_SECONDS
            )
            if answer.status_code == requests.codes.service_unavailable:
                # a fresh target's first writes may time out on a cold Neo4j: try again
                if time.monotonic() >= deadline:
                    answer.raise_for_status()
                time.sleep(0.2)
                continue
            answer.raise_for_status()
            ids.append(int(answer.json()["id"]))
    return ids
