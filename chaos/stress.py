"""CPU and memory stress next to the target, with `stress-ng`.

- `cpu_stress(pid, load=80)`: stress-ng workers pinned (`--taskset`) to the CPUs the
  target may run on, each busy `load` % of the time: the target's CPUs are that busy
  with someone else's work, as on a noisy node.
- `memory_stress(pid, megabytes=1024)`: a "pod" memory cgroup with a limit of the stress
  plus headroom; the target and a stress-ng worker holding `megabytes` (`--vm-keep`) are
  moved into it, so the target runs under the memory pressure of its own limit. cgroup v2
  (`memory.max`) where its memory controller is enabled, else v1 (`memory.limit_in_bytes`,
  as a child of this process's own memory cgroup). The OOM kills in the cgroup are counted.

stress-ng runs in its own process group, registered with the reaper (killed if the
harness dies) and bounded by `--timeout`; on the way out it is killed, the target is moved
back where it was, and the cgroup is removed (the reaper's undo does it too).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chaos.errors import FaultSpecError
from fixtures.errors import FaultRefusedError
from fixtures.lifecycle.reaper import Reaper, Undo, descendants, kill_process_group
from system.deadline import wait_until

CGROUP_ROOT = Path("/sys/fs/cgroup")
MAX_SECONDS = 600
HEADROOM_MB = 256
REMOVE_SECONDS = 5.0


@dataclass
class StressReport:
    """What the stress did: for the journal."""

    command: list[str]
    cgroup: str | None = None
    oom_kills: int = 0

    def describe(self) -> str:
        where = f" in cgroup {self.cgroup}" if self.cgroup else ""
        return f"{' '.join(self.command)}{where}; OOM kills in it: {self.oom_kills}"


def _stress_ng() -> str:
    found = shutil.which("stress-ng")
    if found is None:
        raise FaultRefusedError("stress-ng is not installed (Debian package stress-ng)")
    return found


def _start(argv: list[str], reaper: Reaper | None) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    if reaper is not None:
        reaper.track_process_group(process.pid)
    return process


def _stop(process: subprocess.Popen[bytes], reaper: Reaper | None) -> None:
    kill_process_group(process.pid, grace_seconds=2.0)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    if reaper is not None:
        reaper.untrack_process_group(process.pid)


@contextlib.contextmanager
def cpu_stress(
    pid: int, load: int = 80, seconds: float = MAX_SECONDS, reaper: Reaper | None = None
) -> Iterator[StressReport]:
    """Keep the CPUs `pid` may use `load` % busy for the block."""
    if not 1 <= load <= 100:
        raise FaultSpecError(f"cpu stress: load={load} must be a percentage in 1..100")
    cpus = sorted(os.sched_getaffinity(pid))
    argv = [
        _stress_ng(), "--cpu", str(len(cpus)), "--cpu-load", str(load),
        "--taskset", ",".join(map(str, cpus)), "--timeout", f"{int(seconds)}s", "--quiet",
    ]  # fmt: skip
    process = _start(argv, reaper)
    try:
        yield StressReport(argv)
    finally:
        _stop(process, reaper)


@contextlib.contextmanager
def memory_stress(
    pid: int, megabytes: int = 1024, seconds: float = MAX_SECONDS, reaper: Reaper | None = None
) -> Iterator[StressReport]:
    """`megabytes` held next to `pid`, both under one memory limit, for the block."""
    if megabytes <= 0:
        raise FaultSpecError(f"memory stress: megabytes={megabytes} must be > 0")
    pod = MemoryCgroup.create(f"harness-pod-{os.getpid()}-{pid}", reaper)
    members = [pid, *descendants(pid)]
    try:
        pod.limit((megabytes + HEADROOM_MB) * 1024 * 1024)
        homes = {member: pod.adopt(member) for member in members}
        argv = [
            _stress_ng(), "--vm", "1", "--vm-bytes", f"{megabytes}M", "--vm-keep",
            "--timeout", f"{int(seconds)}s", "--quiet",
        ]  # fmt: skip
        process = _start(argv, reaper)
        pod.adopt(process.pid)
        report = StressReport(argv, str(pod.path))
        try:
            yield report
        finally:
            _stop(process, reaper)
            report.oom_kills = pod.oom_kills()
            for member, home in homes.items():
                pod.release(member, home)
    finally:
        pod.remove()


@dataclass
class MemoryCgroup:
    """A memory cgroup of ours, v2 or v1."""

    path: Path
    version: int
    reaper: Reaper | None

    @classmethod
    def create(cls, name: str, reaper: Reaper | None) -> MemoryCgroup:
        parent, version = _memory_parent()
        path = parent / name
        if reaper is not None:
            reaper.track_undo(f"cgroup-{path}", Undo("cgroup", path=str(path)))
        try:
            path.mkdir()
        except OSError as error:
            raise FaultRefusedError(f"cannot create memory cgroup {path}: {error}") from None
        return cls(path, version, reaper)

    def limit(self, limit_bytes: int) -> None:
        name = "memory.max" if self.version == 2 else "memory.limit_in_bytes"
        (self.path / name).write_text(str(limit_bytes))

    def adopt(self, pid: int) -> Path | None:
        """Move `pid` in; the cgroup it came from."""
        home = _cgroup_of(pid, self.version)
        with contextlib.suppress(ProcessLookupError, OSError):
            (self.path / "cgroup.procs").write_text(str(pid))
        return home

    def release(self, pid: int, home: Path | None) -> None:
        if home is not None:
            with contextlib.suppress(OSError):
                (home / "cgroup.procs").write_text(str(pid))

    def oom_kills(self) -> int:
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            text = (self.path / name).read_text()
        except OSError:
            return 0
        found = re.search(r"oom_kill (\d+)", text)
        return int(found.group(1)) if found else 0

    def remove(self) -> None:
        """Remove the cgroup once its last process has left (stress-ng's workers take a
        moment to go); `WaitTimeoutError` if it is still busy after `REMOVE_SECONDS`, its
        undo then left with the reaper, which removes it when the harness exits."""
        wait_until(
            self._removed,
            seconds=REMOVE_SECONDS,
            what=f"cgroup {self.path} removed",
            retry_on=(OSError,),  # EBUSY while a process is still in it
        )
        if self.reaper is not None:
            self.reaper.untrack_undo(f"cgroup-{self.path}")

    def _removed(self) -> bool:
        with contextlib.suppress(FileNotFoundError):
            self.path.rmdir()
        return True


def _memory_parent() -> tuple[Path, int]:
    """Where our memory cgroups go: v2 with the memory controller, else v1 under our own."""
    controllers = CGROUP_ROOT / "cgroup.controllers"
    if controllers.exists() and "memory" in controllers.read_text().split():
        own = _own_cgroup("")
        return CGROUP_ROOT / own.lstrip("/"), 2
    v1 = CGROUP_ROOT / "memory"
    if v1.is_dir():
        return v1 / _own_cgroup("memory").lstrip("/"), 1
    raise FaultRefusedError(
        "no memory cgroup controller here (neither cgroup v2 'memory' nor v1 /sys/fs/cgroup/"
        "memory): memory stress needs one"
    )


def _own_cgroup(controller: str) -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller == "" and controllers == "":
            return path
        if controller and controller in controllers.split(","):
            return path
    return "/"


def _cgroup_of(pid: int, version: int) -> Path | None:
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if version == 2 and controllers == "":
            return CGROUP_ROOT / path.lstrip("/")
        if version == 1 and "memory" in controllers.split(","):
            return CGROUP_ROOT / "memory" / path.lstrip("/")
    return None
