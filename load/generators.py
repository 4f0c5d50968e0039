"""Where a plan's load is generated, chosen by the profile's `[load]` (one setting, one name).

    [load]                      # absent: this machine's load processes (load.runner)
    workers = 2                 # a Locust master and 2 workers (load.distributed)
    master_bind = "0.0.0.0:5557"     # where the master listens (default: 127.0.0.1, free port)
    start_workers = false       # the workers run elsewhere (default: the harness starts them)

Either way the run has one face (`load.sequential.Judged`): the gates, the sequential
looks, the capacity search and the evidence read the same `LoadResult`, from one record
per request (`load.result`) or from the merged histograms (`load.merged`).
"""

from __future__ import annotations

from pathlib import Path

from fixtures.lifecycle.reaper import Reaper
from fixtures.profile import LoadSettings
from load.distributed import JOIN_SECONDS, parse_address
from load.merged import start_merged
from load.plan import LoadPlan
from load.result import LoadResult
from load.runner import start_load
from load.sequential import Judged

ON_THIS_MACHINE = LoadSettings()
# How long a master waits for workers started elsewhere (`[load] start_workers = false`):
# workers already serving (`--runs 0`) join within a second; new pods take longer.
ELSEWHERE_JOIN_SECONDS = 120.0


def start_judged(
    plan: LoadPlan,
    workdir: Path,
    settings: LoadSettings = ON_THIS_MACHINE,
    *,
    reaper: Reaper | None = None,
) -> Judged:
    """Start `plan` where `settings` say; use the run as a context manager."""
    if settings.workers is None:
        return start_load(plan, workdir, reaper=reaper)
    host, port = ("127.0.0.1", None)
    if settings.master_bind is not None:
        host, port = parse_address(settings.master_bind)
    return start_merged(
        plan,
        workdir,
        workers=settings.workers,
        master_host=host,
        port=port,
        reaper=reaper,
        start_workers=settings.workers if settings.start_workers else 0,
        join_seconds=JOIN_SECONDS if settings.start_workers else ELSEWHERE_JOIN_SECONDS,
    )


def run_judged(
    plan: LoadPlan,
    workdir: Path,
    settings: LoadSettings = ON_THIS_MACHINE,
    *,
    reaper: Reaper | None = None,
) -> LoadResult:
    """Run `plan` to its end where `settings` say; its result, or `LoadRunError`."""
    run = start_judged(plan, workdir, settings, reaper=reaper)
    try:
        return run.wait()
    finally:
        run.close()
