"""A fresh machine: a workflow job's `run:` steps in a minimal Debian made here.

    scripts/fresh-machine [--suite bookworm|trixie] [--job gate] [--report FILE]

GitHub runs the PR gate in a `debian:12` job container that has no Go, Python, git, make
or curl: the job's first step installs what it needs. This makes such a machine, a
`debootstrap --variant=minbase` root file system (the day's pristine copy is cached as a
tarball under `$TOOLS_HOME/rootfs-cache`), copies the working tree into it as
`actions/checkout` would (tracked and untracked files that git does not ignore, and
`.git`: uncommitted changes included), checks that no `go` is on its PATH, then runs every
`run:` step of the job (`.github/workflows/pr-gate.yml`'s `gate`: `make gate`, that is
`scripts/bootstrap` and the PR gate) with `bash -e`, in order, as GitHub does: after a
failure only the steps whose `if:` says `always()` or `failure()`. `uses:` steps other than
the checkout are not run here.

Each command runs chrooted in namespaces of its own (`unshare --mount --pid --fork`): the
root bound onto itself (a mount point, as a container's root is), /proc,
/sys (with /sys/fs/cgroup), /dev, /dev/pts and a fresh /dev/shm are mounted there, so the
mounts and every process a step leaves behind end with it, whatever happens to this
script. The network is the host's (the package registries). The root file system is
removed at exit, also after Ctrl-C or SIGTERM. Like the `debian` images, the root file
system has a policy-rc.d that keeps packages' services from starting at install. What the
host needs to use its network (proxy variables, local certificate authorities such as a
TLS-inspecting egress proxy's) is carried in; nothing else of the host is.

Every phase is timed; a summary goes to stdout and, with `--report`, to a JSON file; the
run's log and the job's reports (summary.md and .json, JUnit) go to
`reports/fresh-machine/<suite>/`. Exit status 0 only if every step passed. Needs root.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

import yaml

DESCRIPTION = "A workflow job's run: steps in a minimal Debian root file system made here."
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixtures.tools import tools_home  # noqa: E402

MIRROR = "http://deb.debian.org/debian"
SUITES = ("bookworm", "trixie")
WORKSPACE = "/__w/reliability-harness/reliability-harness"  # where GitHub checks out in a container
STEP_SUMMARY = "/__w/_temp/step_summary.md"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STEP_TIMEOUT_SECONDS = 3600
# The host's network is the rootfs's, with what the host needs to use it: its proxies and
# the certificate authorities it trusts beyond Debian's (a TLS-inspecting egress proxy's:
# copied into the rootfs's /usr/local/share/ca-certificates, which ca-certificates merges
# into /etc/ssl/certs when the job installs it), and the variables naming them.
NETWORK_VARIABLES = re.compile(
    r"(?i)^(https?_proxy|no_proxy|all_proxy|pip_cert|ssl_cert_file|ssl_cert_dir"
    r"|requests_ca_bundle|curl_ca_bundle|node_extra_ca_certs|git_ssl_cainfo|aws_ca_bundle)$"
)
LOCAL_AUTHORITIES = Path("/usr/local/share/ca-certificates")
COLOURS = re.compile(r"\x1b\[[0-9;]*m")  # Maven's, even with -B, before bootstrap's next line
POLICY_RC_D = (
    "#!/bin/sh\n# as in the debian images: no service starts while packages install\nexit 101\n"
)
# Mounts, in a mount namespace of the command's own: they end with it. The root is a mount
# point, as a container's is (`ip netns exec` and `ip -n` make it a slave mount).
MOUNTS = """set -e
root=$1; shift
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
exec chroot "$root" "$@"
"""


@dataclass
class Phase:
    name: str
    seconds: float
    status: str  # passed | failed | skipped
    detail: str = ""


@dataclass
class Report:
    suite: str
    workflow: str
    job: str
    go_on_path_before: str | None = None
    bootstrap_done: bool = False
    bootstrap_go: str = ""
    # bootstrap's lines, each with the seconds since its step started: its phases' times
    bootstrap_lines: list[tuple[float, str]] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    passed: bool = False

    def add(self, name: str, started: float, status: str, detail: str = "") -> Phase:
        phase = Phase(name, round(time.monotonic() - started, 1), status, detail)
        self.phases.append(phase)
        say(f"phase {name}: {status} in {phase.seconds:.0f} s{f' ({detail})' if detail else ''}")
        return phase


def say(message: str) -> None:
    print(f"fresh-machine: {message}", flush=True)


class StoppedError(Exception):
    """SIGTERM or SIGINT: stop the running command, then clean up."""


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise StoppedError(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--suite", choices=SUITES, default="bookworm")
    parser.add_argument("--workflow", default=".github/workflows/pr-gate.yml")
    parser.add_argument("--job", default="gate")
    parser.add_argument("--report", type=Path, help="write the summary as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the root file system (debug)")
    arguments = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root (debootstrap, chroot, namespaces)")
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    report = Report(suite=arguments.suite, workflow=arguments.workflow, job=arguments.job)
    evidence = ROOT / "reports" / "fresh-machine" / arguments.suite
    shutil.rmtree(evidence, ignore_errors=True)
    evidence.mkdir(parents=True)
    with (evidence / "run.log").open("w") as log:
        try:
            run(arguments, report, log, evidence)
        except StoppedError as interrupted:
            say(f"interrupted ({interrupted}): cleaned up")
            report.phases.append(Phase("interrupted", 0.0, "failed", str(interrupted)))
            report.passed = False
        except Exception as error:  # the summary names it; the run fails
            traceback.print_exc()
            report.phases.append(Phase("error", 0.0, "failed", repr(error)))
            report.passed = False
    text = json.dumps(asdict(report), indent=1) + "\n"
    (evidence / "summary.json").write_text(text)
    if arguments.report is not None:
        arguments.report.write_text(text)
    for phase in report.phases:
        print(f"  {phase.name:<50} {phase.status:<8} {phase.seconds:>7.0f} s  {phase.detail}")
    say(f"{arguments.suite}: {'PASS' if report.passed else 'FAIL'} (evidence in {evidence})")
    return 0 if report.passed else 1


def run(arguments: argparse.Namespace, report: Report, log: IO[str], evidence: Path) -> None:
    steps = job_steps(ROOT / arguments.workflow, arguments.job)
    with fresh_root(arguments.suite, report, keep=arguments.keep) as root:
        started = time.monotonic()
        found = chrooted(root, ["bash", "-c", "command -v go"], log, cwd="/")
        report.go_on_path_before = found.output.strip() or None
        report.add(
            "no go on PATH before bootstrap",
            started,
            "passed" if found.returncode != 0 else "failed",
            report.go_on_path_before or "command -v go: none",
        )
        failed = report.go_on_path_before is not None
        for number, step in enumerate(steps, 1):
            name = f"step {number}: {step.get('name') or step.get('uses') or step.get('run')}"
            name = name.splitlines()[0][:80]
            condition = str(step.get("if", "success()"))
            if not should_run(condition, failed=failed):
                report.phases.append(Phase(name, 0.0, "skipped", f"if: {condition}"))
                continue
            started = time.monotonic()
            uses = str(step.get("uses", ""))
            if uses.startswith("actions/checkout@"):
                copy_working_tree(root)
                report.add(name, started, "passed", f"working tree copied to {WORKSPACE}")
                continue
            if "run" not in step:
                report.phases.append(Phase(name, 0.0, "skipped", f"uses: {uses}: not run here"))
                continue
            result = run_step(root, step, log)
            status = "passed" if result.returncode == 0 else "failed"
            report.add(name, started, status, f"exit {result.returncode}")
            note_bootstrap(report, result)
            failed = failed or result.returncode != 0
        keep_reports(root, evidence)
        report.passed = not failed


def job_steps(workflow: Path, job: str) -> list[dict[str, Any]]:
    """The job's steps, each with the `shell` and `working-directory` that apply to it (its
    own, else the job's `defaults.run`, else the workflow's)."""
    document = yaml.safe_load(workflow.read_text())
    definition = document["jobs"][job]
    defaults = {
        **((document.get("defaults") or {}).get("run") or {}),
        **((definition.get("defaults") or {}).get("run") or {}),
    }
    return [{**defaults, **step} for step in definition["steps"]]


def should_run(condition: str, *, failed: bool) -> bool:
    """GitHub's status functions only: the job's steps use no other `if:`."""
    condition = condition.strip().removeprefix("${{").removesuffix("}}").strip()
    if condition in {"always()", "!cancelled()"}:
        return True
    if condition == "failure()":
        return failed
    if condition == "success()":
        return not failed
    raise SystemExit(f"fresh-machine: cannot evaluate `if: {condition}`")


@dataclass
class Result:
    returncode: int
    output: str
    lines: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, line)


def chrooted(
    root: Path,
    command: list[str],
    log: IO[str],
    *,
    cwd: str = WORKSPACE,
    env: dict[str, str] | None = None,
    echo: bool = False,
) -> Result:
    """`command` in the root file system, in mount and PID namespaces of its own."""
    environment = {
        "PATH": PATH,
        "HOME": "/root",
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": WORKSPACE,
        "GITHUB_STEP_SUMMARY": STEP_SUMMARY,
        "RUNNER_TEMP": "/__w/_temp",
        **{name: value for name, value in os.environ.items() if NETWORK_VARIABLES.match(name)},
        **(env or {}),
    }
    inner = ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in environment.items())]
    inner += ["/bin/sh", "-c", f'cd {shlex.quote(cwd)} && exec "$@"', "sh", *command]
    argv = ["unshare", "--mount", "--pid", "--fork", "--propagation", "private", "--"]
    argv += ["/bin/sh", "-c", MOUNTS, "sh", str(root), *inner]
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    lines: list[tuple[float, str]] = []
    started = time.monotonic()

    def stop() -> None:
        # the namespace's first process: every process of the command ends with it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    watchdog = threading.Timer(STEP_TIMEOUT_SECONDS, stop)
    watchdog.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append((round(time.monotonic() - started, 1), line))
            log.write(f"[{lines[-1][0]:7.1f}] {line}")
            log.flush()
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            stop()
        process.wait()
    return Result(process.returncode, "".join(line for _, line in lines), lines)


def run_step(root: Path, step: dict[str, Any], log: IO[str]) -> Result:
    script = Path(root, "__w/_temp", f"step-{time.monotonic_ns()}.sh")
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(str(step["run"]))
    shell = str(step.get("shell", ""))
    # GitHub's defaults: `bash -e {0}`, and for `shell: bash` the options below
    command = (
        ["bash", "--noprofile", "--norc", "-eo", "pipefail"] if shell == "bash" else ["bash", "-e"]
    )
    if shell not in {"", "bash"}:
        raise SystemExit(f"fresh-machine: shell {shell!r} is not supported")
    directory = str(step.get("working-directory", WORKSPACE))
    if not directory.startswith("/"):
        directory = f"{WORKSPACE}/{directory}"
    env = {str(key): str(value) for key, value in (step.get("env") or {}).items()}
    say(f"running: {str(step['run']).strip()}")
    return chrooted(
        root, [*command, "/" + str(script.relative_to(root))], log, cwd=directory, env=env,
        echo=True,
    )  # fmt: skip


def note_bootstrap(report: Report, result: Result) -> None:
    for seconds, text in result.lines:
        line = COLOURS.sub("", text).rstrip("\n")
        if line.startswith("bootstrap: "):
            report.bootstrap_lines.append((seconds, line))
        if line.startswith("bootstrap: done"):
            report.bootstrap_done = True
        if line.startswith("bootstrap: Go ") and "go version" in line:
            report.bootstrap_go = line.removeprefix("bootstrap: ")


def copy_working_tree(root: Path) -> None:
    """What `actions/checkout` gives, with this tree's uncommitted changes: tracked and
    untracked files that git does not ignore (those that exist), and `.git`."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.split(b"\0")  # fmt: skip
    names = [name for name in listed if name and os.path.lexists(ROOT / os.fsdecode(name))]
    names.append(b".git")
    target = Path(root, WORKSPACE.lstrip("/"))
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as archive:
        subprocess.run(
            ["tar", "-C", str(ROOT), "--null", "-T", "-", "-cf", "-"],
            input=b"\0".join(names), stdout=archive, check=True,
        )  # fmt: skip
        archive.seek(0)
        subprocess.run(["tar", "-C", str(target), "-xf", "-"], stdin=archive, check=True)


def keep_reports(root: Path, evidence: Path) -> None:
    reports = Path(root, WORKSPACE.lstrip("/"), "reports")
    for name in ("summary.md", "summary.json", "junit"):
        source = reports / name
        if source.is_dir():
            shutil.copytree(source, evidence / name)
        elif source.is_file():
            shutil.copy2(source, evidence / name)
    summary = Path(root, STEP_SUMMARY.lstrip("/"))
    if summary.is_file():
        shutil.copy2(summary, evidence / "step_summary.md")


@contextlib.contextmanager
def fresh_root(suite: str, report: Report, *, keep: bool) -> Iterator[Path]:
    """A pristine minbase root file system in a temporary folder, removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=f"fresh-machine-{suite}-", dir="/var/tmp"))
    root = workdir / "root"
    try:
        started = time.monotonic()
        detail = unpack_rootfs(suite, root)
        (root / "usr/sbin/policy-rc.d").write_text(POLICY_RC_D)
        (root / "usr/sbin/policy-rc.d").chmod(0o755)
        shutil.copy2("/etc/resolv.conf", root / "etc/resolv.conf")
        if LOCAL_AUTHORITIES.is_dir():
            shutil.copytree(
                LOCAL_AUTHORITIES, root / LOCAL_AUTHORITIES.relative_to("/"), dirs_exist_ok=True
            )
        Path(root, WORKSPACE.lstrip("/")).mkdir(parents=True)  # empty until the checkout
        report.add(f"root file system (debian {suite} minbase)", started, "passed", detail)
        yield root
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C does not stop clean-up
            signal.signal(number, signal.SIG_IGN)
        started = time.monotonic()
        if keep:
            say(f"kept {root}")
        else:
            remove_root(workdir)
            report.add("clean-up", started, "passed", f"{workdir} removed")


def unpack_rootfs(suite: str, root: Path) -> str:
    """debootstrap, or today's pristine tarball of it (made here the first time today)."""
    cache = tools_home() / "rootfs-cache"
    tarball = cache / f"{suite}-minbase-{datetime.datetime.now(datetime.UTC):%Y%m%d}.tar"
    root.mkdir(parents=True)
    if tarball.is_file():
        subprocess.run(["tar", "-C", str(root), "-xpf", str(tarball)], check=True)
        return f"from {tarball}"
    if shutil.which("debootstrap") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "debootstrap"], check=True)
    subprocess.run(
        ["debootstrap", "--variant=minbase", suite, str(root), MIRROR],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob(f"{suite}-minbase-*.tar"):
        old.unlink()
    partial = tarball.with_suffix(".partial")
    subprocess.run(
        ["tar", "-C", str(root), "--numeric-owner", "-cpf", str(partial), "."], check=True
    )
    partial.rename(tarball)
    return f"debootstrap from {MIRROR}, cached as {tarball}"


def remove_root(workdir: Path) -> None:
    """Nothing is mounted there from this namespace (each command had its own); if
    something is, it is unmounted first, and removal never leaves the file system."""
    for mount in reversed(mounts_under(workdir)):
        subprocess.run(["umount", "-l", mount], check=False)
    if mounts_under(workdir):
        say(f"still mounted under {workdir}: not removed")
        return
    subprocess.run(["rm", "-rf", "--one-file-system", str(workdir)], check=False)


def mounts_under(directory: Path) -> list[str]:
    prefix = str(directory) + "/"
    with Path("/proc/self/mountinfo").open() as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    return sorted(point for point in points if point.startswith(prefix))


if __name__ == "__main__":
    sys.exit(main())
