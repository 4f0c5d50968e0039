"""Every entry point refuses bad input the same way: one line on stderr naming the file or
flag, the key, the problem and the fix; a non-zero exit; no traceback; nothing started (no
server, no load step, no file written); no secret in any output.

The commands: `python -m load.capacity`, `python -m drill.summary`, `python -m chaos`,
`python -m drill`, and pytest itself, which reads a profile through the same validation
(`plugins.settings.check_target`) and so says the same line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

import drill.__main__ as drill_main
from fixtures.lifecycle.ports import PortAllocator, port_is_free

pytestmark = [pytest.mark.integration, pytest.mark.parallel]

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Entry-Point-7f2c"
SECRET_VARIABLE = "HARNESS_ENTRY_POINT_SECRET"
STARTED_NOTHING_WITHIN = 30.0  # seconds: any service start or load step takes longer
FAULT_KINDS_LINE = "latency, partition, kill, pause, disk, cpu, memory, clock, s3"


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run(module: str, *args: str, cwd: Path = REPO) -> Ran:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RELIABILITY_") and key != "CI"
    }
    environment[SECRET_VARIABLE] = SECRET
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return Ran(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def assert_refused(ran: Ran, *fragments: str, status: int = 2) -> str:
    """One line on stderr with every fragment; the exit status; nothing else happened."""
    output = ran.stdout + ran.stderr
    assert ran.returncode == status, output
    assert "Traceback" not in output
    assert len(ran.lines) == 1, f"one line on stderr, got:\n{ran.stderr}"
    (line,) = ran.lines
    for fragment in fragments:
        assert fragment in line, line
    assert SECRET not in output, "a secret was printed"
    assert ran.stdout.strip() == "", f"nothing started, nothing said on stdout:\n{ran.stdout}"
    assert ran.seconds < STARTED_NOTHING_WITHIN, "refused before anything started"
    return line


def profile(tmp_path: Path, body: str, name: str = "profile.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'[target]\nname = "staging"\n{body}')
    return path


# -- python -m load.capacity ----------------------------------------------------------------


def test_1_capacity_refuses_a_url_with_credentials_without_printing_them() -> None:
    port = PortAllocator().reserve()
    ran = run(
        "load.capacity", "--url", f"http://user:{SECRET}@127.0.0.1:{port}/", "--step-seconds", "1"
    )
    line = assert_refused(
        ran, "capacity: --url http://***@127.0.0.1:", "credentials", "through the environment"
    )
    assert "user" not in line


def test_2_capacity_checks_that_something_listens_before_any_load_step() -> None:
    port = PortAllocator().reserve()  # free: nothing listens there
    ran = run("load.capacity", "--url", f"http://127.0.0.1:{port}", "--step-seconds", "1")
    assert_refused(
        ran,
        f"capacity: --url http://127.0.0.1:{port}: nothing listens at 127.0.0.1:{port}",
        "start the target first",
    )
    assert "no step met the SLO" not in ran.stdout
    assert port_is_free(port), "nothing was started on it"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://127.0.0.1:8000", "has scheme 'ftp'; give a URL with scheme http:// or https://"),
        ("http://127.0.0.1:99999", "has port 99999, outside 1-65535"),
    ],
)
def test_capacity_refuses_a_url_that_is_no_http_address(url: str, fragment: str) -> None:
    assert_refused(run("load.capacity", "--url", url), f"capacity: --url {url}: {fragment}")


# -- python -m drill.summary ----------------------------------------------------------------

JUNIT = (
    '<testsuites><testsuite><testcase classname="suites.load.test_p95_under_load" '
    'name="test_x"/></testsuite></testsuites>'
)


def test_3_summary_refuses_a_missing_criteria_file(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    missing = tmp_path / "criteria.jsonl"
    ran = run("drill.summary", str(junit), str(missing), "--out", str(tmp_path / "out"))
    line = assert_refused(ran, f"criteria file {missing}: does not exist", "--criteria-file=")
    assert "PASS" not in line
    assert not (tmp_path / "out").exists(), "no summary written"


def test_3_a_summary_of_nothing_is_no_pass(tmp_path: Path) -> None:
    junit, criteria = tmp_path / "junit.xml", tmp_path / "criteria.jsonl"
    junit.write_text(JUNIT)
    criteria.write_text("")
    ran = run("drill.summary", str(junit), str(criteria), "--out", str(tmp_path / "out"))
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert ran.stdout.startswith("## Reliability drill: FAIL (nothing was measured")
    assert "PASS" not in ran.stdout
    assert "Traceback" not in ran.stdout + ran.stderr


def test_4_summary_names_a_malformed_junit_file(tmp_path: Path) -> None:
    junit, criteria = tmp_path / "junit.xml", tmp_path / "criteria.jsonl"
    junit.write_text("<testsuites><testsuite>")
    criteria.write_text("")
    ran = run("drill.summary", str(junit), str(criteria), "--out", str(tmp_path / "out"))
    assert_refused(ran, f"summary: JUnit XML {junit}: not well-formed XML", "run the tests again")


def test_5_summary_names_the_file_and_line_of_a_malformed_criteria_file(tmp_path: Path) -> None:
    junit, criteria = tmp_path / "junit.xml", tmp_path / "criteria.jsonl"
    junit.write_text(JUNIT)
    good = (
        '{"criterion": "p95_latency", "scope": "x", "bound": 1.5, "unit": "s", '
        '"measured": 0.1, "verdict": "pass", "test": "t"}'
    )
    criteria.write_text(f"{good}\n{{'criterion': 'p95_latency'\n")
    ran = run("drill.summary", str(junit), str(criteria), "--out", str(tmp_path / "out"))
    assert_refused(ran, f"summary: criteria file {criteria} line 2: not JSON")


# -- python -m chaos ------------------------------------------------------------------------

BAD_PROFILES = {
    "unknown-fault-kind": (
        '[chaos]\nallow = ["latency", "earthquake"]\n',
        "key 'chaos.allow' names unknown fault kind(s) earthquake; known: " + FAULT_KINDS_LINE,
    ),
    "ftp-api-url": (
        '[services.api]\nurl = "ftp://127.0.0.1:21"\n',
        "key 'services.api.url' has scheme 'ftp'; give a URL with scheme http:// or https://",
    ),
    "port-out-of-range": (
        f'[services.api]\nurl = "http://app:${{{SECRET_VARIABLE}}}@127.0.0.1:99999"\n',
        "key 'services.api.url' has port 99999, outside 1-65535",
    ),
    "bad-entity-ids": (
        '[services.api]\nurl = "http://127.0.0.1:9"\nentity_ids = "10-1"\n',
        "key 'services.api.entity_ids'",
    ),
}


@pytest.mark.parametrize("case", ["unknown-fault-kind", "ftp-api-url", "port-out-of-range"])
def test_6_7_chaos_validates_the_profile_as_pytest_does(case: str, tmp_path: Path) -> None:
    body, fragment = BAD_PROFILES[case]
    path = profile(tmp_path, body)
    var_file = tmp_path / "vars.json"
    ran = run("chaos", "--target", str(path), "--var-file", str(var_file))
    assert_refused(ran, f"chaos: target profile {path}: {fragment}")
    assert not var_file.exists(), "nothing written"


@pytest.mark.parametrize("target", [None, "profile"])
def test_8_chaos_checks_the_var_file_folder_before_starting_anything(
    target: str | None, tmp_path: Path
) -> None:
    missing = tmp_path / "missing" / "dir" / "vars.json"
    args = ["--var-file", str(missing)]
    if target is not None:
        args += ["--target", str(profile(tmp_path, ""))]
    ran = run("chaos", *args)  # without --target: the local stack, not started
    assert_refused(
        ran, f"chaos: --var-file {missing}: its folder {missing.parent} does not exist", "create it"
    )


def test_chaos_refuses_a_directory_as_its_var_file(tmp_path: Path) -> None:
    ran = run("chaos", "--var-file", str(tmp_path), "--target", str(profile(tmp_path, "")))
    assert_refused(ran, f"chaos: --var-file {tmp_path}: is a directory")


# -- python -m drill ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "shown", "fragment"),
    [
        ("notaurl", "notaurl", "is not a URL (no scheme); give a URL with scheme http://"),
        ("ftp://gw.example:9091", "ftp://gw.example:9091", "has scheme 'ftp'"),
        (f"http://user:{SECRET}@:9091", "http://***@:9091", "has no host"),
    ],
)
def test_9_drill_checks_the_publish_url_before_the_drill(
    given: str, shown: str, fragment: str
) -> None:
    ran = run("drill", "--quick", "--backend", "native", "--publish", given)
    assert_refused(ran, f"drill: --publish {shown}: {fragment}")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--dr-seed", "x"], "drill: --dr-seed='x' is not an integer"),
        (["--images", "nope"], "drill: --images 'nope' is not one of official, local"),
    ],
)
def test_10_drill_takes_the_suites_settings_and_checks_them(args: list[str], fragment: str) -> None:
    assert_refused(run("drill", "--quick", "--backend", "native", *args), fragment)


def test_10_drill_passes_the_suites_settings_on_to_their_pytest_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--dr-seed`, `--images` and `--chaos-experiment` reach the suites' pytest run."""
    for name in ("RELIABILITY_TARGET", "RELIABILITY_SYSTEM", "RELIABILITY_SET"):
        monkeypatch.delenv(name, raising=False)
    seen: dict[str, Sequence[str]] = {}

    def run_suites(*_args: object, extra: Sequence[str] = (), **_kwargs: object) -> int:
        seen["extra"] = extra
        return drill_main.STOPPED_BEFORE_TESTS[0]  # as if pytest stopped: nothing more

    monkeypatch.setattr(drill_main, "run_suites", run_suites)
    status = drill_main.main(
        [
            "--quick", "--backend", "native", "--dr-seed", "7", "--images", "local",
            "--chaos-experiment", "redis-latency",
        ]
    )  # fmt: skip
    assert status == drill_main.STOPPED_BEFORE_TESTS[0]
    assert {"--dr-seed=7", "--images=local", "--chaos-experiment=redis-latency"} <= set(
        seen["extra"]
    )


def test_11_drill_says_a_directory_is_no_experiment_and_lists_the_experiments() -> None:
    folder = REPO / "scenarios" / "intelgraph" / "chaos"
    ran = run("drill", "--quick", "--backend", "native", "--chaos-experiment", str(folder))
    line = assert_refused(
        ran, f"drill: --chaos-experiment {folder}: is a directory; give one experiment file"
    )
    assert "redis-latency.json" in line
    assert "does not exist" not in line


def test_11_drill_names_the_experiments_for_a_file_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "redis-latncy.json"
    ran = run("drill", "--quick", "--backend", "native", "--chaos-experiment", str(missing))
    assert_refused(ran, f"--chaos-experiment {missing}: does not exist", "redis-latency")


@pytest.mark.parametrize("case", list(BAD_PROFILES))
def test_12_drill_validates_the_profile_fully_before_its_preflight(
    case: str, tmp_path: Path
) -> None:
    body, fragment = BAD_PROFILES[case]
    path = profile(tmp_path, body)
    ran = run("drill", "--target", str(path))
    assert_refused(ran, "drill: target profile ", str(path), fragment)
    assert "preflight" not in ran.stdout + ran.stderr


@pytest.mark.parametrize("case", ["unknown-fault-kind", "port-out-of-range"])
def test_pytest_the_drill_and_chaos_say_the_same_line(case: str, tmp_path: Path) -> None:
    """One validation: the same problem reads the same from every command."""
    body, fragment = BAD_PROFILES[case]
    path = profile(tmp_path, body)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["plugins.target"]\n')
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    pytest_run = run("pytest", "--target", str(path), "-p", "no:cacheprovider", cwd=tmp_path)
    said = {
        "pytest": assert_refused(pytest_run, fragment, status=pytest.ExitCode.USAGE_ERROR),
        "drill": assert_refused(run("drill", "--target", str(path)), fragment),
        "chaos": assert_refused(
            run("chaos", "--target", str(path), "--var-file", str(tmp_path / "v.json")), fragment
        ),
    }
    reasons = {name: line.partition(f"{path}")[2].lstrip("):") for name, line in said.items()}
    assert len(set(reasons.values())) == 1, said
