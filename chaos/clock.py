"""Time skew on the target's own process, with libfaketime.

A target started with `ApiProvider(clock=True)` runs with libfaketime preloaded
(`LD_PRELOAD`), its fake time read from a file (`FAKETIME_TIMESTAMP_FILE`, re-read every
second) that holds "+0" until a fault writes e.g. "-10m". Its monotonic clock is left
alone (`FAKETIME_DONT_FAKE_MONOTONIC=1`): asyncio's timers, and so every timeout of the
target, run on it, and a faked monotonic clock jumping backwards freezes uvicorn. So the
fault is the wall clock only, as on a host whose NTP went wrong: `time.time()`,
`datetime.now()`, the `Date` header. It does not affect Go binaries (they make no libc
time calls), nor the databases, which keep the right time.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from chaos.errors import FaultSpecError

OFFSET = re.compile(r"^[+-]\d+(\.\d+)?[smhdy]?$")
NO_SKEW = "+0"
CACHE_SECONDS = 1  # how soon the target sees a change of the file


def check_offset(offset: str) -> str:
    if not OFFSET.match(offset):
        raise FaultSpecError(
            f"clock skew {offset!r}: give a signed offset such as '-10m', '+30s' or '+2h'"
        )
    return offset


@contextlib.contextmanager
def skewed(control_file: Path, offset: str) -> Iterator[str]:
    """The target's wall clock off by `offset` for the block (seen within a second)."""
    control_file.write_text(check_offset(offset) + "\n")
    try:
        yield offset
    finally:
        control_file.write_text(NO_SKEW + "\n")
