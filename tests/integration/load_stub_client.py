"""The load stub (`tests/integration/load_stub.py`) from a test: started in its own
process group (on loopback, or where the caller puts it: a network namespace), its knobs
set, its served requests counted."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixtures.lifecycle.ports import PortAllocator
from fixtures.lifecycle.reaper import Reaper, kill_process_group
from system.deadline import WaitTimeoutError, wait_until

REPO = Path(__file__).resolve().parents[2]
READY_SECONDS = 20.0


class StubError(Exception):
    """The stub did not start; the message ends with its log."""


@dataclass(frozen=True)
class Stub:
    url: str

    def set(
        self,
        delay: float = 0.0,
        status: int = 200,
        report_factor: float = 1.0,
        error_share: float = 0.0,
        html: bool = False,
    ) -> None:
        """Set the server's delay, status, metrics factor and error share; reset its counter."""
        body = json.dumps(
            {
                "delay": delay,
                "status": status,
                "report_factor": report_factor,
                "error_share": error_share,
                "html": html,
            }
        )
        request = urllib.request.Request(  # noqa: S310 - the stub's own URL
            f"{self.url}/_control", data=body.encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - the stub's own URL
            pass

    def count(self) -> int:
        return int(self._counts()["count"])

    def clients(self) -> dict[str, int]:
        """Requests served since the last reset, by the client's address."""
        return {str(host): int(count) for host, count in self._counts()["clients"].items()}

    def _counts(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_count", timeout=5) as answer:  # noqa: S310
            return dict(json.load(answer))


@contextlib.contextmanager
def running_stub(
    workdir: Path,
    reaper: Reaper | None = None,
    *,
    host: str = "127.0.0.1",
    wrap: Callable[[list[str]], list[str]] | None = None,
) -> Iterator[Stub]:
    """The stub on a free port of `host` (loopback by default), answering; killed (its
    process group) on exit. `wrap(argv)` returns the command that runs `argv` where the
    stub is to run (e.g. `chaos.netns.Namespace.exec_argv`, `host` the namespace's address);
    this process must reach `host`."""
    port = PortAllocator().reserve()
    log = workdir / "stub.log"
    argv = [sys.executable, "-m", "tests.integration.load_stub", str(port), host]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv if wrap is None else wrap(argv),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if reaper is not None:
        reaper.track_process_group(process.pid)
    try:
        stub = Stub(f"http://{host}:{port}")

        def answering() -> bool:
            if process.poll() is not None:
                raise StubError(f"load stub exited with {process.returncode}: {log.read_text()}")
            stub.count()
            return True

        try:
            wait_until(answering, seconds=READY_SECONDS, what="the load stub", retry_on=(OSError,))
        except WaitTimeoutError as timeout:
            raise StubError(f"{timeout}: {log.read_text()[-2000:]}") from timeout
        yield stub
    finally:
        kill_process_group(process.pid)
        process.wait(timeout=10)
        if reaper is not None:
            reaper.untrack_process_group(process.pid)
