"""`python -m chaos`: a target to run Chaos Toolkit experiments against by hand.

    .venv/bin/python -m chaos --var-file chaos-vars.json           # the local stack
    .venv/bin/chaos run --rollback-strategy=always --var-file chaos-vars.json \\
        scenarios/intelgraph/chaos/redis-latency.json                          # in another terminal

Locally it starts the chaos suite's stack (`chaos.stack`: Postgres, Neo4j, Redis,
Toxiproxy and the reference target, supervised), writes the experiments' configuration
as a Chaos Toolkit `--var-file` (with pid files that it keeps current across restarts, so
that `kill_service` and `pause_service` find the servers), and waits: Ctrl-C stops
everything it started. With `--target PROFILE` it starts nothing: it writes the
configuration for the profile's own target and Toxiproxy, with the fault kinds the
profile allows (`[chaos] allow`) and its `destructive` setting, and exits.

The profile is validated as pytest and the drill validate it (`plugins.settings.check_target`),
and the `--var-file`'s folder is checked, before anything starts: a mistake is one line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from chaos.stack import ChaosStack, chaos_stack
from fixtures.backend import Backend
from fixtures.errors import HarnessError
from fixtures.launcher import ServiceLauncher
from fixtures.profile import LOCAL, TargetProfile, load_profile
from plugins.settings import check_target, resolve_settings

PID_REFRESH_SECONDS = 0.5


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--var-file", default="chaos-vars.json", help="where to write it")
    parser.add_argument(
        "--target", help="'local' (default) or a TOML profile; env RELIABILITY_TARGET"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse(argv)
    try:
        var_file = checked_var_file(arguments.var_file)
        target = arguments.target or os.environ.get("RELIABILITY_TARGET", LOCAL)
        profile = check_target(resolve_settings(target, None)).profile
        if not profile.is_local:
            write_vars(var_file, profile_configuration(profile, var_file.parent))
            print(f"chaos: wrote {var_file} for {profile.describe()}; nothing was started")
            return 0
        return serve(var_file)
    except (HarnessError, ValueError) as error:
        print(f"chaos: {error}", file=sys.stderr)
        return 2


def checked_var_file(given: str) -> Path:
    """Where `--var-file` will be written: a file in a folder that exists and is writable
    (`HarnessError`, one line, otherwise: found out before any server starts)."""
    path = Path(given).expanduser().resolve()
    folder = path.parent
    problem = (
        "is a directory; give the path of a file (e.g. chaos-vars.json) in it"
        if path.is_dir()
        else f"its folder {folder} does not exist; create it or give a path in an existing one"
        if not folder.is_dir()
        else f"its folder {folder} is not writable; give a path in a folder you can write"
        if not os.access(folder, os.W_OK)
        else None
    )
    if problem is not None:
        raise HarnessError(f"--var-file {given}: {problem}")
    return path


def serve(var_file: Path) -> int:
    stop = threading.Event()

    def on_signal(_number: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    launcher = ServiceLauncher(Backend.NATIVE, load_profile(LOCAL))
    try:
        with chaos_stack(launcher) as stack:
            pid_dir = Path(tempfile.mkdtemp(prefix="chaos-pids-", dir=launcher.root))
            write_vars(var_file, local_configuration(stack, pid_dir))
            print(f"chaos: the stack is up; its configuration is in {var_file}")
            print(
                "chaos: run an experiment with: .venv/bin/chaos run --rollback-strategy=always "
                f"--var-file {var_file} scenarios/intelgraph/chaos/redis-latency.json"
            )
            print("chaos: Ctrl-C stops everything", flush=True)
            while not stop.wait(PID_REFRESH_SECONDS):
                write_pids(stack, pid_dir)
    except KeyboardInterrupt:
        pass
    finally:
        launcher.close()
        var_file.unlink(missing_ok=True)
    print("chaos: stopped")
    return 0


def local_configuration(stack: ChaosStack, pid_dir: Path) -> dict[str, Any]:
    write_pids(stack, pid_dir)
    run_dir = pid_dir.parent / "chaos-run"
    configuration = stack.configuration(run_dir, load_profile(LOCAL).slo)
    for name in stack.services:
        if stack.services[name].process is not None:
            configuration[f"pid_file_{name}"] = str(pid_dir / f"{name}.pid")
    if stack.namespace is not None:
        configuration["namespace_host_ip"] = stack.namespace.host_ip
    configuration["run_id"] = "standalone"
    return configuration


def write_pids(stack: ChaosStack, pid_dir: Path) -> None:
    """One pid file per server, rewritten when its supervisor restarted it."""
    for name, service in stack.services.items():
        if service.process is not None and service.process.is_running():
            path = pid_dir / f"{name}.pid"
            text = f"{service.process.pid}\n"
            if not path.exists() or path.read_text() != text:
                path.write_text(text)


def profile_configuration(profile: TargetProfile, directory: Path) -> dict[str, Any]:
    api = profile.services.get("api", {})
    toxiproxy = profile.services.get("toxiproxy", {})
    proxies = dict(toxiproxy.get("proxies", {}))
    configuration: dict[str, Any] = {
        "api_url": str(api.get("url", "")).rstrip("/"),
        "run_dir": str(directory / "chaos-run"),
        "run_id": f"standalone{int(time.time())}",
        "toxiproxy_url": str(toxiproxy.get("url", "")).rstrip("/"),
        "p95_seconds": profile.slo.p95_seconds,
        "allowed_faults": list(profile.chaos_allow or ()),
        "destructive": profile.destructive,
        "allow_remote_load": profile.allow_remote_load,
    }
    if "entity_ids" in api:
        configuration["entity_ids"] = api["entity_ids"]
    for dependency in ("postgres", "neo4j", "redis"):
        configuration[f"proxy_{dependency}"] = proxies.get(dependency, dependency)
    return configuration


def write_vars(path: Path, configuration: dict[str, Any]) -> None:
    path.write_text(json.dumps({"configuration": configuration}, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
