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


class Traffic:
    """`concurrency` threads cycling through `paths` until `stop()`, the deadline or the cap."""

    def __init__(
        self, base_url: str, paths: Sequence[str], concurrency: int, deadline_seconds: float
    ) -> None:
        host = urlsplit(base_url).hostname or ""
        if not is_loopback(host):
            raise ValueError(f"alert suites send traffic to loopback only, not to {base_url}")
        self.base_url = base_url
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

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_SECONDS + 1)

    def __enter__(self) -> Traffic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
