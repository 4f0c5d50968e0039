"""The workflows (.github/workflows) as far as this machine can run them, and the history
script (.github/scripts/history) for real.

(a) Each workflow parsed: every action pinned by a full commit SHA with its version in a
    comment; every job with a timeout and its own permissions (write only where the history
    is pushed); every `run:` step's commands naming only make targets of the Makefile,
    scripts of the repository and Python modules that exist; no `${{ }}` inside a `run:`;
    bash syntax of every `run:`; actionlint (with shellcheck when it is on PATH).
(b) The history script against a local bare repository standing in for origin: the first
    fetch finds no branch (an empty directory, exit 0), a push creates the orphan branch,
    a second push appends, a push that another run beat is built again on the new tip, the
    drill's own loader reads what was fetched, and nothing is left behind.
Then both: the drill workflows' own history and verdict steps, run as written (bash -eo
pipefail, the workflow's env) in fresh checkouts of that origin for two months, with the
artifact handed from the drill's job to the history job as upload/download-artifact would:
the second month's drill sees the first month's verdict in its trend.

Not run here: the setup step (apt-get), `make gate|test|drill` themselves (minutes to half
an hour each; the project's own runs and the fresh-machine test do), and the actions.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from drill import report, summary
from fixtures.tools import tools_home
from system.criteria import SCHEMA

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
HISTORY = ROOT / ".github" / "scripts" / "history"
HISTORY_SUBCOMMANDS = {"fetch", "push"}
PINNED = re.compile(
    r"^\s*(?:-\s+)?uses:\s*(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})"
    r"\s+#\s*(?P<version>v\d+(?:\.\d+)*)\s*$"
)
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:")
MAKE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", re.MULTILINE)
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", ";;"}
REDIRECTIONS = {">", ">>", "<", ">&", "<&", "&>", ">|"}
# Words before the command itself: shell keywords and commands that run the next word.
PREFIXES = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}"}
PREFIXES |= {"eval", "exec", "time", "command", "nice", "env"}
VENV_TOOLS = {".venv/bin/python", ".venv/bin/pytest", ".venv/bin/ruff", ".venv/bin/mypy"}
DEBIAN = "debian:12"
GIT_TIMEOUT = 60


# --- (a) the workflows -------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    workflow: str
    job: str
    index: int
    body: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.workflow}: {self.job}: step {self.index + 1} ({self.body.get('name', '')})"

    @property
    def run(self) -> str | None:
        value = self.body.get("run")
        return None if value is None else str(value)


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), f"{path.name}: not a mapping"
    if True in document:  # YAML 1.1 reads the key `on` as a boolean
        document["on"] = document.pop(True)
    return document


def jobs(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = document.get("jobs")
    assert isinstance(found, dict), "no jobs"
    assert found, "no jobs"
    return found


def all_steps() -> Iterator[Step]:
    for path in WORKFLOWS:
        for name, job in jobs(load(path)).items():
            for index, body in enumerate(job.get("steps", [])):
                yield Step(path.name, name, index, body)


def run_steps() -> list[Step]:
    return [step for step in all_steps() if step.run is not None]


def makefile_targets() -> set[str]:
    return set(MAKE_TARGET.findall((ROOT / "Makefile").read_text()))


def commands(script: str) -> list[list[str]]:
    """The simple commands of a bash script, each as its words, the command first (shell
    keywords, `eval`-like prefixes, assignments and redirections taken off); the insides of
    `$(...)` are commands of their own."""
    text = script.replace("\\\n", " ")
    pieces = [text, *SUBSTITUTION.findall(text)]
    found: list[list[str]] = []
    for piece in pieces:
        for line in piece.splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
            lexer.whitespace_split = True
            current: list[str] = []
            skip_next = False
            for token in lexer:
                if skip_next:
                    skip_next = False
                elif token in SEPARATORS:
                    found.append(current)
                    current = []
                elif token in REDIRECTIONS:
                    skip_next = True
                else:
                    current.append(token)
            found.append(current)
    stripped = []
    for words in found:
        start = 0
        while start < len(words) and (words[start] in PREFIXES or ASSIGNMENT.match(words[start])):
            start += 1
        if words[start:]:
            stripped.append(words[start:])
    return stripped


def module_exists(module: str) -> bool:
    base = ROOT.joinpath(*module.split("."))
    return (base / "__main__.py").is_file() or base.with_suffix(".py").is_file()


def problems(script: str) -> list[str]:
    """What a `run:` script names that is not there: make targets missing from the
    Makefile, scripts missing from the repository (or not executable), modules missing."""
    targets = makefile_targets()
    found = []
    for words in commands(script):
        command, arguments = words[0], words[1:]
        if command == "make":
            goals = [word for word in arguments if not word.startswith("-") and "=" not in word]
            missing = [goal for goal in goals if goal not in targets]
            found += [f"make {goal}: no such target in the Makefile" for goal in missing]
        python = command.endswith(("/python", "/python3")) or command in {"python", "python3"}
        if python and "-m" in arguments[:-1]:
            module = arguments[arguments.index("-m") + 1]
            if not module_exists(module):
                found.append(f"{command} -m {module}: no {module} module in the repository")
        if command in {"bash", "sh"} and arguments and not arguments[0].startswith("-"):
            command, arguments = arguments[0], arguments[1:]
        if "/" in command and not command.startswith(("$", "/")):
            if command.startswith(".venv/"):
                if command not in VENV_TOOLS:
                    found.append(f"{command}: not a tool scripts/bootstrap puts in .venv")
                continue
            path = ROOT / command
            if not path.is_file():
                found.append(f"{command}: no such file in the repository")
            elif not os.access(path, os.X_OK):
                found.append(f"{command}: not executable")
            elif path == HISTORY and (not arguments or arguments[0] not in HISTORY_SUBCOMMANDS):
                found.append(f"{command} {' '.join(arguments)}: not fetch or push")
    return found


def test_the_three_workflows_are_there() -> None:
    names = {load(path)["name"] for path in WORKFLOWS}
    assert names == {"pr-gate", "monthly-drill", "staging"}


def test_every_action_is_pinned_by_a_full_commit_sha_with_its_version() -> None:
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in WORKFLOWS:
        lines = [line for line in path.read_text().splitlines() if USES_LINE.match(line)]
        for line in lines:
            found = PINNED.match(line)
            assert found, f"{path.name}: not pinned as uses: owner/repo@<40 hex> # vX.Y.Z: {line}"
            pins.setdefault(found["action"], set()).add((found["sha"], found["version"]))
        parsed = [
            s.body["uses"] for s in all_steps() if s.workflow == path.name and "uses" in s.body
        ]
        assert len(parsed) == len(lines), f"{path.name}: a uses: the line check did not see"
    assert pins, "no action used at all?"
    for action, versions in pins.items():  # one action, one pin, in every workflow
        assert len(versions) == 1, f"{action} pinned differently: {sorted(versions)}"


def test_every_job_has_a_timeout_and_least_privilege_permissions() -> None:
    for path in WORKFLOWS:
        document = load(path)
        assert document.get("permissions") == {}, f"{path.name}: workflow-level permissions: {{}}"
        for name, job in jobs(document).items():
            where = f"{path.name}: {name}"
            timeout = job.get("timeout-minutes")
            assert isinstance(timeout, int), f"{where}: timeout-minutes"
            assert 0 < timeout <= 240, f"{where}: timeout-minutes"
            permissions = job.get("permissions")
            assert isinstance(permissions, dict), f"{where}: no permissions of its own"
            scripts = [str(step.get("run", "")) for step in job.get("steps", [])]
            pushes = any(f"{HISTORY.relative_to(ROOT)} push" in script for script in scripts)
            expected = {"contents": "write" if pushes else "read"}
            assert permissions == expected, f"{where}: {permissions}, expected {expected}"
            if pushes:  # the job that can write runs no harness code (no bootstrap, no make)
                assert not any(
                    words[0] == "make" for script in scripts for words in commands(script)
                ), where
                assert "container" not in job, where


def test_every_workflow_has_a_concurrency_group_and_schedules_are_never_cancelled() -> None:
    for path in WORKFLOWS:
        document = load(path)
        concurrency = document.get("concurrency")
        assert isinstance(concurrency, dict), path.name
        assert concurrency.get("group"), path.name
        if "schedule" in document["on"]:
            assert concurrency.get("cancel-in-progress") is False, path.name
            assert document["on"]["schedule"], path.name


def test_the_reports_are_uploaded_whatever_happened_and_kept_for_a_while() -> None:
    uploads = [s for s in all_steps() if str(s.body.get("uses", "")).startswith("actions/upload")]
    assert uploads
    uploaded_reports = set()
    for step in uploads:
        settings = step.body.get("with", {})
        assert str(step.body.get("if", "")).startswith("always()"), step.where
        days = settings.get("retention-days")
        assert isinstance(days, int), f"{step.where}: retention-days"
        assert 1 <= days <= 90, f"{step.where}: retention-days"
        if settings.get("path") == "reports/":
            uploaded_reports.add((step.workflow, step.job))
    # every job that runs the harness keeps its reports/ (Allure results, JUnit, summary)
    harness_jobs = {
        (step.workflow, step.job)
        for step in run_steps()
        if any(words[:1] == ["make"] for words in commands(step.run or ""))
    }
    assert harness_jobs
    assert harness_jobs <= uploaded_reports


def test_run_steps_name_only_targets_scripts_and_modules_that_exist() -> None:
    seen: set[str] = set()
    for step in run_steps():
        assert step.run is not None
        assert not problems(step.run), f"{step.where}: {problems(step.run)}"
        for words in commands(step.run):
            seen.add(" ".join(words[:2]))
    # the parse saw what the workflows run (it is not vacuously clean)
    for expected in ("make gate", "make test", "make drill", "scripts/dockerd start"):
        assert expected in seen, sorted(seen)
    assert any(line.startswith(".github/scripts/history") for line in seen)
    assert any(line.startswith(".venv/bin/python -m") for line in seen)


def test_the_reference_check_finds_what_is_missing() -> None:
    script = (
        "make gate nosuchtarget\n"
        "if [ -f x ]; then .venv/bin/python -m drill.nosuch; fi\n"
        'eval "$(scripts/nosuch env)"\n'
        "FOO=1 scripts/dockerd start && bash scripts/missing.sh\n"
        ".github/scripts/history pull reports/history\n"
    )
    found = problems(script)
    assert any("make nosuchtarget" in line for line in found), found
    assert any("drill.nosuch" in line for line in found), found
    assert any("scripts/nosuch" in line for line in found), found
    assert any("scripts/missing.sh" in line for line in found), found
    assert any("not fetch or push" in line for line in found), found
    assert not any("make gate" in line or "scripts/dockerd" in line for line in found), found


def test_run_steps_hold_no_expressions_and_are_valid_bash() -> None:
    """Values reach a `run:` through env: (no injection, and the step runs as it is outside
    GitHub, e.g. in a fresh Debian 12 rootfs); each parses as bash."""
    for step in run_steps():
        assert step.run is not None
        assert "${{" not in step.run, f"{step.where}: use env: instead of ${{{{ }}}}"
        parsed = subprocess.run(
            ["bash", "-n"], input=step.run, capture_output=True, text=True, timeout=30, check=False
        )
        assert parsed.returncode == 0, f"{step.where}: {parsed.stderr}"


def test_harness_jobs_prepare_a_bare_debian_12_the_same_way() -> None:
    """Each job that runs the harness: a debian:12 container whose first step installs,
    in one identical line, what it lacks to check out and run scripts/bootstrap."""
    setups = set()
    for path in WORKFLOWS:
        for name, job in jobs(load(path)).items():
            scripts = [str(step.get("run", "")) for step in job.get("steps", [])]
            if not any(words[:1] == ["make"] for s in scripts for words in commands(s)):
                continue
            container = job.get("container")
            image = container.get("image") if isinstance(container, dict) else container
            assert image == DEBIAN, f"{path.name}: {name}: {image}"
            first = job["steps"][0]
            assert "run" in first, f"{path.name}: {name}: the first step installs"
            assert job["steps"][1]["uses"].startswith("actions/checkout@")
            setups.add(str(first["run"]))
    assert len(setups) == 1, setups
    (setup,) = setups
    install = next(words for words in commands(setup) if "install" in words)
    packages = {word for word in install if not word.startswith("-")} - {"apt-get", "install"}
    assert {"ca-certificates", "git", "make", "python3", "npm"} <= packages, packages


def positions(document: dict[str, Any], *command: str) -> list[tuple[str, int]]:
    """(job, step index) of each step running `command` (its first words)."""
    return [
        (name, index)
        for name, job in jobs(document).items()
        for index, step in enumerate(job.get("steps", []))
        if any(words[: len(command)] == list(command) for words in commands(step.get("run", "")))
    ]


def test_the_drill_history_is_fetched_before_and_pushed_after() -> None:
    """The folder the workflows fetch into is the one `python -m drill` reads (and passes
    to pytest as --history-dir); the push runs in a job after the drill's."""
    assert report.REPORTS / "history" == importlib.import_module("drill.__main__").HISTORY
    script = str(HISTORY.relative_to(ROOT))
    folders = set()
    for name in ("monthly-drill.yml", "staging.yml"):
        path = ROOT / ".github" / "workflows" / name
        document = load(path)
        assert "actions/cache" not in path.read_text(), name
        (fetch,) = positions(document, script, "fetch", "reports/history")
        (drill,) = positions(document, "make", "drill")
        (push,) = positions(document, script, "push", "reports/history")
        assert fetch[0] == drill[0], name  # in the drill's job, before the drill
        assert fetch[1] < drill[1], name
        assert jobs(document)[push[0]]["needs"] == drill[0], name
        folders.add(document["env"]["HISTORY_PATH"])
    assert len(folders) == 2  # one folder of the branch each


def actionlint() -> Path | None:
    candidates = (tools_home() / "bin", Path("/opt/reliability-harness/bin"))
    for candidate in (directory / "actionlint" for directory in candidates):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("actionlint")
    return Path(found) if found else None


def test_actionlint_passes() -> None:
    binary = actionlint()
    if binary is None:
        pytest.skip("actionlint is not installed (scripts/bootstrap installs it)")
    done = subprocess.run(
        [str(binary), *(str(path) for path in WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- (b) the history script against a local bare repository -------------------------------


@dataclass
class Place:
    """A bare repository standing in for origin, a checkout of the code that names it as
    origin, and a scratch TMPDIR that must stay empty."""

    origin: Path
    work: Path
    scratch: Path
    environment: dict[str, str]

    def history(self, *arguments: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HISTORY), *arguments],
            cwd=self.work,
            env={**self.environment, **extra},
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )

    def git(self, *arguments: str, where: Path | None = None) -> str:
        done = subprocess.run(
            ["git", *arguments],
            cwd=where or self.work,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=True,
        )
        return done.stdout

    def commit(self, message: str) -> None:
        author = ("-c", "user.name=t", "-c", "user.email=t@example.invalid")
        self.git(*author, "commit", "-q", "--allow-empty", "-m", message)

    def branch_files(self, branch: str = "reliability-history") -> list[str]:
        listed = self.git("ls-tree", "-r", "--name-only", branch, where=self.origin)
        return listed.split()


@pytest.fixture
def place(tmp_path: Path) -> Place:
    home, scratch = tmp_path / "home", tmp_path / "scratch"
    home.mkdir()
    scratch.mkdir()
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(scratch),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "LANG": "C.UTF-8",
    }
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    created = Place(origin, work, scratch, environment)
    created.git("init", "-q", "--bare", "-b", "main", str(origin), where=tmp_path)
    created.git("init", "-q", "-b", "main", str(work), where=tmp_path)
    created.commit("the code")
    created.git("remote", "add", "origin", str(origin))
    created.git("push", "-q", "origin", "main")
    return created


def run_summary(started: str, measured: float) -> dict[str, Any]:
    """A drill's summary as `python -m drill` keeps it (the fields the trend reads)."""
    row = {
        "criterion": "p95_latency",
        "scope": "graph_query",
        "bound": 1.5,
        "unit": "s",
        "measured": measured,
        "verdict": "pass",
        "test": "suites/load/test_p95_under_load.py::test_graph",
    }
    return {"schema": SCHEMA, "target": "local", "started": started, "criteria": [row]}


def a_drill(place: Place, started: str, measured: float) -> Path:
    """What one drill leaves: reports/history (as fetched, plus its own summary),
    reports/summary.md and reports/criteria.jsonl."""
    reports = place.work.parent / "reports"
    history = reports / "history"
    place.history("fetch", str(history)).check_returncode()
    summary.keep(run_summary(started, measured), history)
    (reports / "summary.md").write_text(f"# the drill of {started}\n")
    (reports / "criteria.jsonl").write_text(f'{{"measured": {measured}}}\n')
    return reports


def push_run(place: Place, reports: Path) -> subprocess.CompletedProcess[str]:
    return place.history(
        "push",
        str(reports / "history"),
        str(reports / "summary.md"),
        str(reports / "criteria.jsonl"),
    )


def test_the_first_fetch_finds_no_branch_and_leaves_an_empty_directory(place: Place) -> None:
    target = place.work.parent / "first"
    done = place.history("fetch", str(target))
    assert done.returncode == 0, done.stderr
    assert "no branch reliability-history" in done.stdout
    assert target.is_dir()
    assert not any(target.iterdir())


def test_an_unreachable_origin_is_an_error_never_no_history(place: Place) -> None:
    missing = str(place.work.parent / "no-such-origin.git")
    done = place.history("fetch", str(place.work.parent / "x"), HISTORY_REMOTE=missing)
    assert done.returncode != 0
    assert "ERROR" in done.stderr


def test_push_creates_the_orphan_branch_then_appends(place: Place) -> None:
    first = a_drill(place, "2026-11-01T02:00:00Z", 0.20)
    done = push_run(place, first)
    assert done.returncode == 0, done.stderr
    assert "new orphan branch" in done.stdout
    assert place.branch_files() == [
        "drill/runs/20261101T020000Z/criteria.jsonl",
        "drill/runs/20261101T020000Z/summary.md",
        "drill/summary-20261101T020000Z.json",
    ]
    # an orphan: one root commit, nothing of the code's history
    assert place.git("rev-list", "--count", "reliability-history", where=place.origin) == "1\n"
    assert "main" not in place.git("log", "--format=%s", "reliability-history", where=place.origin)

    shutil.rmtree(first)  # next month, a fresh machine: what it fetches is last month's
    fetched = place.work.parent / "fetched"
    assert place.history("fetch", str(fetched)).returncode == 0
    assert [path.name for path in fetched.iterdir()] == ["summary-20261101T020000Z.json"]
    assert summary.load_history(fetched)[0]["started"] == "2026-11-01T02:00:00Z"

    second = a_drill(place, "2026-12-01T02:00:00Z", 0.25)
    done = push_run(place, second)
    assert done.returncode == 0, done.stderr
    files = place.branch_files()
    assert "drill/summary-20261101T020000Z.json" in files  # appended, not overwritten
    assert "drill/summary-20261201T020000Z.json" in files
    assert "drill/runs/20261201T020000Z/summary.md" in files
    assert len(files) == 6
    assert place.git("rev-list", "--count", "reliability-history", where=place.origin) == "2\n"

    # the drill's trend reads both months
    again = place.work.parent / "again"
    assert place.history("fetch", str(again)).returncode == 0
    history = summary.load_history(again)
    assert [document["started"] for document in history] == [
        "2026-11-01T02:00:00Z",
        "2026-12-01T02:00:00Z",
    ]
    this_run = run_summary("2027-01-01T02:00:00Z", 0.30)
    summary.add_trend(this_run, history)
    assert this_run["criteria"][0]["trend"] == [0.20, 0.25, 0.30]


def test_a_push_with_nothing_new_changes_nothing(place: Place) -> None:
    reports = a_drill(place, "2026-11-01T02:00:00Z", 0.2)
    assert push_run(place, reports).returncode == 0
    tip = place.git("rev-parse", "reliability-history", where=place.origin)
    done = push_run(place, reports)  # the same run again (e.g. the job re-run)
    assert done.returncode == 0, done.stderr
    assert "nothing new" in done.stderr
    assert place.git("rev-parse", "reliability-history", where=place.origin) == tip


def test_a_summary_already_on_the_branch_is_kept_as_it_is_there(place: Place) -> None:
    reports = a_drill(place, "2026-11-01T02:00:00Z", 0.2)
    assert push_run(place, reports).returncode == 0
    kept = reports / "history" / "summary-20261101T020000Z.json"
    kept.write_text('{"schema": 1, "rewritten": true}\n')
    summary.keep(run_summary("2026-12-01T02:00:00Z", 0.3), reports / "history")
    done = push_run(place, reports)
    assert done.returncode == 0, done.stderr
    assert "the branch's is kept" in done.stderr
    kept_there = "reliability-history:drill/summary-20261101T020000Z.json"
    shown = place.git("show", kept_there, where=place.origin)
    assert "rewritten" not in shown


def test_a_push_beaten_by_another_run_is_built_again_on_the_new_tip(place: Place) -> None:
    """Two runs pushing at once (the drill's and staging's): the one that loses the race
    is refused, fetches the new tip and appends to it."""
    reports = a_drill(place, "2026-11-01T02:00:00Z", 0.2)
    assert push_run(place, reports).returncode == 0
    other = place.work.parent / "other"
    other.mkdir()
    summary.keep(run_summary("2026-11-01T04:00:00Z", 0.5), other)
    marker = place.work.parent / "raced"
    hook = place.work / ".git" / "hooks" / "pre-push"
    # before our first push goes out, another run pushes staging's summary
    hook.write_text(
        "#!/bin/sh\n"
        f'[ -e "{marker}" ] && exit 0\n'
        f'touch "{marker}"\n'
        f'HISTORY_PATH=staging "{HISTORY}" push "{other}" >/dev/null 2>&1\n'
    )
    hook.chmod(0o755)
    summary.keep(run_summary("2026-12-01T02:00:00Z", 0.3), reports / "history")
    done = push_run(place, reports)
    assert done.returncode == 0, done.stderr
    assert marker.exists()
    assert "refused" in done.stderr
    files = place.branch_files()
    assert "staging/summary-20261101T040000Z.json" in files
    assert "drill/summary-20261201T020000Z.json" in files
    assert place.git("rev-list", "--count", "reliability-history", where=place.origin) == "3\n"
    # each folder is its own history: the drill's fetch does not see staging's runs
    fetched = place.work.parent / "drill-only"
    assert place.history("fetch", str(fetched)).returncode == 0
    assert sorted(path.name for path in fetched.iterdir()) == [
        "summary-20261101T020000Z.json",
        "summary-20261201T020000Z.json",
    ]


def test_fetch_brings_the_newest_runs_the_drill_keeps(place: Place) -> None:
    script = HISTORY.read_text()
    assert f'KEEP="${{HISTORY_KEEP:-{summary.HISTORY_KEPT}}}"' in script
    reports = place.work.parent / "reports"
    for month in range(1, 6):
        summary.keep(run_summary(f"2026-0{month}-01T02:00:00Z", 0.1 * month), reports)
    assert place.history("push", str(reports)).returncode == 0
    fetched = place.work.parent / "fetched"
    assert place.history("fetch", str(fetched), HISTORY_KEEP="2").returncode == 0
    assert sorted(path.name for path in fetched.iterdir()) == [
        "summary-20260401T020000Z.json",
        "summary-20260501T020000Z.json",
    ]


def test_the_script_leaves_nothing_behind(place: Place) -> None:
    refs = place.git("for-each-ref")
    reports = a_drill(place, "2026-11-01T02:00:00Z", 0.2)
    assert push_run(place, reports).returncode == 0
    assert place.history("fetch", str(reports / "history")).returncode == 0
    summary.keep(run_summary("2026-12-01T02:00:00Z", 0.3), reports / "history")
    assert push_run(place, reports).returncode == 0
    assert place.git("status", "--porcelain", "--ignored") == ""  # working tree, index
    assert place.git("for-each-ref") == refs  # no remote-tracking or other ref
    assert not list(place.scratch.iterdir())  # its temporary index is gone
    assert not list(reports.rglob("*.partial"))


def test_the_script_refuses_what_it_does_not_know(place: Place) -> None:
    assert place.history().returncode == 2
    assert place.history("pull", "x").returncode == 2
    assert place.history("push", str(place.work.parent / "no-such-dir")).returncode == 1
    assert place.history("fetch", "x", HISTORY_PATH="../up").returncode == 1
    assert place.history("fetch", "x", HISTORY_KEEP="all").returncode == 1


# --- (a)+(b) the drill workflows' own steps, as written, against the local origin ----------


def step_named(document: dict[str, Any], job: str, start: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = jobs(document)[job]["steps"]
    found = [step for step in steps if str(step.get("name", "")).startswith(start)]
    assert len(found) == 1, f"{job}: one step named {start!r}: {found}"
    return found[0]


def uses_step(document: dict[str, Any], job: str, action: str, name: str = "") -> dict[str, Any]:
    steps: list[dict[str, Any]] = jobs(document)[job]["steps"]
    found = [
        step
        for step in steps
        if str(step.get("uses", "")).startswith(action + "@")
        and (not name or step.get("with", {}).get("name") == name)
    ]
    assert len(found) == 1, f"{job}: one step using {action} {name}"
    return found[0]


def run_step(
    place: Place, document: dict[str, Any], step: dict[str, Any], cwd: Path, **github: str
) -> subprocess.CompletedProcess[str]:
    """A `run:` step as GitHub runs it (`shell: bash`: bash --noprofile --norc -eo pipefail),
    with the workflow's and the step's env."""
    assert document["defaults"]["run"]["shell"] == "bash"
    environment = {**place.environment, **github}
    for scope in (document.get("env", {}), step.get("env", {})):
        environment.update({key: str(value) for key, value in scope.items()})
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", str(step["run"])],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        check=False,
    )


def carry_artifact(
    upload: dict[str, Any], source: Path, download: dict[str, Any], to: Path
) -> None:
    """upload-artifact's paths (kept below their common folder) into download-artifact's."""
    paths = [line.strip().rstrip("/") for line in str(upload["with"]["path"]).splitlines()]
    paths = [path for path in paths if path]
    common = Path(os.path.commonpath(paths))
    if len(paths) == 1 and (source / common).is_file():
        common = common.parent
    destination = to / download["with"]["path"]
    for path in paths:
        origin = source / path
        if not origin.exists():
            continue
        target = destination / origin.relative_to(source / common)
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, target, dirs_exist_ok=True)
        else:
            shutil.copy2(origin, target)


@pytest.mark.parametrize("workflow", ["monthly-drill.yml", "staging.yml"])
def test_two_months_of_the_workflow_steps_keep_the_trend(
    place: Place, tmp_path: Path, workflow: str
) -> None:
    """Each drill workflow's history steps, verdict step and artifact hand-over, run as
    written in fresh checkouts of a stand-in origin, month after month: the second month's
    drill sees the first's verdict (what the Actions cache lost after 7 days)."""
    document = load(ROOT / ".github" / "workflows" / workflow)
    drill_job, history_job = list(jobs(document))
    assert jobs(document)[history_job]["needs"] == drill_job
    scripts = place.work / ".github" / "scripts"
    scripts.mkdir(parents=True)
    shutil.copy2(HISTORY, scripts / "history")
    place.git("add", ".github")
    place.commit("the history script")
    place.git("push", "-q", "origin", "main")
    fetch = step_named(document, drill_job, "the verdicts of earlier")
    verdict = step_named(document, drill_job, "verdict per criterion")
    upload = uses_step(document, drill_job, "actions/upload-artifact", f"{drill_job}-history")
    download = uses_step(document, history_job, "actions/download-artifact")
    push = step_named(document, history_job, "append this")
    folder = document["env"]["HISTORY_PATH"]

    measured = {"2026-11-01T02:00:00Z": 0.2, "2026-12-01T02:00:00Z": 0.3}
    for month, (started, value) in enumerate(measured.items()):
        checkout = tmp_path / f"drill-{month}"  # each job: a fresh checkout
        place.git("clone", "-q", str(place.origin), str(checkout), where=tmp_path)
        done = run_step(place, document, fetch, checkout)
        assert done.returncode == 0, done.stderr
        history = checkout / "reports" / "history"
        earlier = summary.load_history(history)
        assert [past["started"] for past in earlier] == list(measured)[:month]
        # what `make drill` writes (drill/__main__.py summarize)
        this_run = run_summary(started, value)
        summary.add_trend(this_run, earlier)
        assert this_run["criteria"][0]["trend"] == list(measured.values())[: month + 1]
        summary.keep(this_run, history)
        (checkout / "reports" / "summary.md").write_text(f"## Reliability drill of {started}\n")
        (checkout / "reports" / "criteria.jsonl").write_text("{}\n")
        step_summary, output = tmp_path / f"summary-{month}", tmp_path / f"output-{month}"
        github = {"GITHUB_STEP_SUMMARY": str(step_summary), "GITHUB_OUTPUT": str(output)}
        done = run_step(place, document, verdict, checkout, **github)
        assert done.returncode == 0, done.stderr
        assert step_summary.read_text() == (checkout / "reports" / "summary.md").read_text()
        assert output.read_text() == "written=true\n"  # the history job's condition

        pusher = tmp_path / f"history-{month}"
        place.git("clone", "-q", str(place.origin), str(pusher), where=tmp_path)
        carry_artifact(upload, checkout, download, pusher)
        done = run_step(place, document, push, pusher, GITHUB_RUN_ID=str(1000 + month))
        assert done.returncode == 0, done.stderr
    stamps = [started.replace("-", "").replace(":", "") for started in measured]
    files = place.branch_files()
    for stamp in stamps:
        assert f"{folder}/summary-{stamp}.json" in files
        assert f"{folder}/runs/{stamp}/summary.md" in files
        assert f"{folder}/runs/{stamp}/criteria.jsonl" in files
    log = place.git("log", "--format=%an %b", "reliability-history", where=place.origin)
    assert "github-actions[bot]" in log
    assert "/actions/runs/1001" in log


def test_the_verdict_step_without_a_verdict_says_so_and_passes(
    place: Place, tmp_path: Path
) -> None:
    """A run stopped before its verdict: the step explains, the job's own failure stays the
    one that counts, and no history is recorded (no `written=true`)."""
    for path in WORKFLOWS:
        document = load(path)
        for name, job in jobs(document).items():
            for step in job["steps"]:
                if not str(step.get("name", "")).startswith("verdict per criterion"):
                    continue
                output = tmp_path / f"{path.stem}-{name}"
                github = {"GITHUB_STEP_SUMMARY": str(tmp_path / "s"), "GITHUB_OUTPUT": str(output)}
                done = run_step(place, document, step, place.work, **github)
                assert done.returncode == 0, f"{path.name}: {name}: {done.stderr}"
                assert "no reports/" in done.stdout
                assert not output.exists()
