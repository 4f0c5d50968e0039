"""The host's CPU over a run, from /proc/stat: how busy it was and how much of it the
hypervisor stole. A run the generator could not hold names these, so that an invalid run
says what spoiled it (the host), never the target.

Hand-written rather than psutil: two counters of one file, read from the load child (a
dependency of the child for that would be the only one)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class CpuTimes:
    """The machine's CPU time so far, in jiffies: all of it, busy, and stolen."""

    total: int
    busy: int
    steal: int

    def since(self, earlier: CpuTimes) -> tuple[float, float]:
        """(busy share, stolen share) of the CPU time between `earlier` and this."""
        total = self.total - earlier.total
        if total <= 0:
            return 0.0, 0.0
        return (self.busy - earlier.busy) / total, (self.steal - earlier.steal) / total


def cpu_times(path: Path = PROC_STAT) -> CpuTimes:
    """The aggregate `cpu` line: user nice system idle iowait irq softirq steal ...
    (guest time is already in user). Zeros where /proc/stat cannot be read."""
    try:
        first = path.read_text().split("\n", 1)[0].split()
    except OSError:
        return CpuTimes(0, 0, 0)
    values = [int(value) for value in first[1:9]] + [0] * (8 - len(first[1:9]))
    idle = values[3] + values[4]
    total = sum(values)
    return CpuTimes(total=total, busy=total - idle - values[7], steal=values[7])
