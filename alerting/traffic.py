"""Bounded background traffic to the target: loopback only, stopped by time and by count.

What is sent comes from the system description: request lines (`"GET /items/{item}"`)
whose `{value}` fields the description's value generators fill (`system.sampling`), and
the records the alert suites create first through its `[write_path]`.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Self
from urllib.parse import urlsplit

import requests

from alerting.errors import RecordWriteError
from fixtures.target_client import record_id, write_body
from load.plan import is_loopback
from system.deadline import Deadline, NotYet
from system.description import RequestLine, WritePath
from system.sampling import Sampler

MAX_REQUESTS = 20_000
REQUEST_TIMEOUT_SECONDS = 10.0
CREATE_DEADLINE_SECONDS = 30.0
RecordId = int | str


class Traffic:
    """`concurrency` threads cycling through request `lines` (templates filled by `sampler`)
    until `stop()`, the deadline or the cap, each pausing `pause_seconds` after every
    answer (0: as fast as the target answers)."""

    def __init__(
        self,
        base_url: str,
        lines: Sequence[RequestLine],
        sampler: Sampler,
        *,
        concurrency: int,
        deadline_seconds: float,
        pause_seconds: float = 0.0,
    ) -> None:
        _check_loopback(base_url)
        if not lines:
            raise ValueError("no request to send: give at least one request line")
        self.base_url = base_url.rstrip("/")
        self._pause = pause_seconds
        self._sampler = sampler
        self._requests = itertools.cycle(lines)
        self._lock = threading.Lock()
        self._sent = 0
        self._stop = threading.Event()
        self._deadline = Deadline(deadline_seconds)  # a cap on the traffic, not a wait
        self._threads = [
            threading.Thread(target=self._run, daemon=True) for _ in range(concurrency)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def sent(self) -> int:
        return self._sent

    def _next(self) -> tuple[str, str, str] | None:
        """The next (base URL, method, filled path), or None when it is time to stop."""
        with self._lock:
            if self._stop.is_set() or self._sent >= MAX_REQUESTS or self._deadline.expired:
                return None
            self._sent += 1
            line = next(self._requests)
            return self._base(), line.method, self._sampler.fill(line.path)

    def _base(self) -> str:
        """Where the next request goes (called under the lock)."""
        return self.base_url

    def _run(self) -> None:
        with requests.Session() as session:
            while (request := self._next()) is not None:
                base, method, path = request
                try:
                    session.request(method, f"{base}{path}", timeout=REQUEST_TIMEOUT_SECONDS)
                except requests.RequestException:
                    time.sleep(0.05)  # a dead target: do not spin
                if self._pause:
                    self._stop.wait(self._pause)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_SECONDS + 1)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SplitTraffic(Traffic):
    """`Traffic` to two instances of a target: of every request, `share` goes to `other_url`
    (by count, not by chance: after `n` requests at one share, `floor(n * share)` went
    there), the rest to `base_url`. With one instance answering only errors, the error
    ratio the target's job exports is `share`, exactly, whatever the rate; `share` may be
    changed while it runs."""

    def __init__(
        self,
        base_url: str,
        other_url: str,
        lines: Sequence[RequestLine],
        sampler: Sampler,
        *,
        concurrency: int,
        deadline_seconds: float,
        pause_seconds: float = 0.0,
        share: float = 0.0,
    ) -> None:
        _check_loopback(other_url)
        self.other_url = other_url.rstrip("/")
        self._share = _check_share(share)
        self._phase = 0  # requests sent at the current share
        self.counts = {"base": 0, "other": 0}
        super().__init__(
            base_url,
            lines,
            sampler,
            concurrency=concurrency,
            deadline_seconds=deadline_seconds,
            pause_seconds=pause_seconds,
        )

    @property
    def share(self) -> float:
        return self._share

    @share.setter
    def share(self, value: float) -> None:
        """A new share, from the next request on (`counts` start again)."""
        with self._lock:
            self._share, self._phase = _check_share(value), 0
            self.counts = {"base": 0, "other": 0}

    @property
    def sent_share(self) -> float:
        """The share of requests sent to `other_url` at the current share, so far."""
        with self._lock:
            sent = self.counts["base"] + self.counts["other"]
            return self.counts["other"] / sent if sent else 0.0

    def _base(self) -> str:
        before = math.floor(self._phase * self._share)
        self._phase += 1
        other = math.floor(self._phase * self._share) > before
        self.counts["other" if other else "base"] += 1
        return self.other_url if other else self.base_url


def _check_share(share: float) -> float:
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"a share of requests is between 0 and 1, not {share}")
    return share


def _check_loopback(url: str) -> None:
    if not is_loopback(urlsplit(url).hostname or ""):
        raise ValueError(f"alert suites send traffic to loopback only, not to {url}")


def create_records(base_url: str, write_path: WritePath | None, count: int) -> list[RecordId]:
    """`count` records created through the target's API with the description's write path,
    each linked to the one before it (`{link}`, an integer id; so reads that follow links
    find some);
    their ids (the answer's `write_path.id`), in order. No write path: none. Loopback only.
    A 503 (a cold database) is asked again; `WaitTimeoutError` if they are not all created
    within `CREATE_DEADLINE_SECONDS`.
    """
    if write_path is None or count <= 0:
        return []
    host = urlsplit(base_url).hostname or ""
    if not is_loopback(host):
        raise ValueError(f"alert suites write to loopback targets only, not to {base_url}")
    url = f"{base_url.rstrip('/')}{write_path.create.path}"
    run = uuid.uuid4().hex[:8]
    ids: list[RecordId] = []

    def create_next(session: requests.Session) -> bool | NotYet:
        link = ids[-1] if ids and isinstance(ids[-1], int) else None
        body = write_body(write_path, f"alert-suite-{run}-{len(ids)}", link)
        answer = session.request(
            write_path.create.method, url, json=body, timeout=REQUEST_TIMEOUT_SECONDS
        )
        if answer.status_code == requests.codes.service_unavailable:
            # a fresh target's first writes may time out on a cold database: try again
            return NotYet(f"HTTP 503: {answer.text[:120]!r}")
        if answer.status_code not in write_path.created:
            raise RecordWriteError(
                f"{write_path.create} answered {answer.status_code}, not one of "
                f"{list(write_path.created)} (the description's [write_path] created)"
            )
        ids.append(_created(answer, write_path))
        return True

    deadline = Deadline(CREATE_DEADLINE_SECONDS)  # for all of them
    with requests.Session() as session:
        while len(ids) < count:
            deadline.wait(
                lambda: create_next(session),
                what=f"record {len(ids) + 1} of {count} created by {write_path.create}",
                interval=0.2,
            )
    return ids


def _created(answer: requests.Response, write_path: WritePath) -> RecordId:
    value = record_id(answer, write_path.id)
    if value is None:
        raise RecordWriteError(
            f"{write_path.create} answered {answer.status_code} without a record id under "
            f"{write_path.id!r} (the description's [write_path] id)"
        )
    return value
