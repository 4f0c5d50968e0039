"""Bad input stops the run with one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.lifecycle.ports import PortAllocator

pytestmark = [pytest.mark.integration, pytest.mark.parallel]

REPO = Path(__file__).resolve().parents[2]

PLUGINS = 'pytest_plugins = ["plugins.target", "plugins.services"]'
SUMMARY_PREFIXES = ("ERROR test_", "FAILED test_")
USES_REDIS = "def test_uses_redis(redis):\n    assert redis.port > 0\n"


@pytest.fixture
def harness(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(PLUGINS)
    pytester.makeini("[pytest]\nmarkers =\n    destructive: destroys things\n")
    return pytester


def assert_one_clear_line(result: pytest.RunResult, *fragments: str) -> None:
    text = "\n".join(result.outlines + result.errlines)
    assert "Traceback" not in text
    # pytest's short summary repeats the reason (in full when $CI is set): not counted.
    lines = [
        line
        for line in text.splitlines()
        if all(f in line for f in fragments) and not line.startswith(SUMMARY_PREFIXES)
    ]
    assert len(lines) == 1, f"expected one line with {fragments}, got:\n{text}"


def profile(harness: pytest.Pytester, body: str) -> str:
    return str(harness.makefile(".toml", profile=f'[target]\nname = "staging"\n{body}'))


def test_malformed_toml(harness: pytest.Pytester) -> None:
    path = harness.makefile(".toml", profile="[target\nname = 'x'")
    result = harness.runpytest_subprocess("--target", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_line(result, "ERROR:", str(path), "is not valid TOML")


def test_unknown_key(harness: pytest.Pytester) -> None:
    path = profile(harness, "[slo]\np95_secs = 1.5\n")
    result = harness.runpytest_subprocess("--target", path)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_line(result, "ERROR:", path, "'slo.p95_secs' is unknown", "p95_seconds")


def test_missing_secret(harness: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_TEST_PG_PASSWORD", raising=False)
    path = profile(
        harness,
        '[services.postgres]\ndsn = "postgresql://app@127.0.0.1/app"\n'
        'password = "${HARNESS_TEST_PG_PASSWORD}"\n',
    )
    result = harness.runpytest_subprocess("--target", path)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_line(
        result, "ERROR:", "services.postgres.password", "HARNESS_TEST_PG_PASSWORD"
    )


def test_profile_from_environment_variable(
    harness: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = profile(harness, "[slo]\nbogus = 1\n")
    monkeypatch.setenv("RELIABILITY_TARGET", path)
    result = harness.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_line(result, "ERROR:", "'slo.bogus' is unknown")


def test_unknown_backend(harness: pytest.Pytester) -> None:
    result = harness.runpytest_subprocess("--backend", "kubernetes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_line(result, "ERROR:", "'kubernetes'", "auto, containers, native")


def test_unreachable_external_service(harness: pytest.Pytester) -> None:
    closed_port = PortAllocator().reserve()  # free: nothing listens there
    path = profile(harness, f'[services.redis]\nurl = "redis://127.0.0.1:{closed_port}/0"\n')
    harness.makepyfile(USES_REDIS)
    result = harness.runpytest_subprocess("--target", path)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(errors=1)
    assert_one_clear_line(result, f"redis at redis://127.0.0.1:{closed_port}/0", "is unreachable")


def test_service_missing_from_profile_skips_naming_the_key(harness: pytest.Pytester) -> None:
    path = profile(harness, "")
    harness.makepyfile(USES_REDIS)
    result = harness.runpytest_subprocess("--target", path, "-rs")
    result.assert_outcomes(skipped=1)
    assert_one_clear_line(result, "SKIPPED", "has no [services.redis]")


def test_missing_binary(harness: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    harness.makepyfile(USES_REDIS)
    result = harness.runpytest_subprocess("--backend", "native")
    result.assert_outcomes(errors=1)
    assert_one_clear_line(result, "redis-server not found on PATH", "make bootstrap")


def test_unknown_marker(harness: pytest.Pytester) -> None:
    harness.makepyfile("import pytest\n@pytest.mark.destructiv\ndef test_x():\n    pass\n")
    result = harness.runpytest_subprocess("--strict-markers")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    text = "\n".join(result.outlines + result.errlines)
    assert "'destructiv' not found in `markers` configuration option" in text
    assert "Traceback" not in text


DESTRUCTIVE_TEST = "import pytest\n@pytest.mark.destructive\ndef test_kills():\n    pass\n"


def test_destructive_refused_on_shared_target(harness: pytest.Pytester) -> None:
    path = profile(harness, "")
    harness.makepyfile(DESTRUCTIVE_TEST)
    result = harness.runpytest_subprocess("--target", path, "-rs")
    result.assert_outcomes(skipped=1)
    assert_one_clear_line(result, "destructive test refused", "destructive = true")


def test_destructive_allowed_when_profile_opts_in(harness: pytest.Pytester) -> None:
    path = str(harness.makefile(".toml", profile='[target]\nname = "lab"\ndestructive = true\n'))
    harness.makepyfile(DESTRUCTIVE_TEST)
    result = harness.runpytest_subprocess("--target", path)
    result.assert_outcomes(passed=1)


def test_unknown_alert_rule_selected(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        'pytest_plugins = ["plugins.target", "plugins.alert_selection", "plugins.services"]'
    )
    pytester.makepyfile(test_x="def test_x(alert_rule_name):\n    assert alert_rule_name\n")
    result = pytester.runpytest_subprocess("--alert-rule", "ServiceDown", "--alert-rule", "Nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_line(result, "ERROR:", "unknown alert rule Nope", "known: ChaosDrillFailed")


def test_selected_alert_rule_runs_alone(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        'pytest_plugins = ["plugins.target", "plugins.alert_selection", "plugins.services"]'
    )
    pytester.makepyfile(test_x="def test_x(alert_rule_name):\n    assert alert_rule_name\n")
    result = pytester.runpytest_subprocess("--alert-rule", "ServiceDown", "-v")
    result.assert_outcomes(passed=1)
    assert any("test_x[ServiceDown]" in line for line in result.outlines)


@pytest.mark.parametrize(
    ("api", "fragments"),
    [
        ('entity_ids = "10-1"', ("'services.api.entity_ids'", "must satisfy 1 <= low <= high")),
        ('entity_ids_file = "nope.txt"', ("'services.api.entity_ids_file'", "is not a file")),
        ('entity_ids_file = "ids.txt"', ("'services.api.entity_ids'", "line 1: 'x'")),
        (
            'entity_ids = "1-5"\nentity_ids_file = "ids.txt"',
            ("'services.api.entity_ids_file' both given",),
        ),
    ],
)
def test_bad_entity_ids_stop_the_run_before_any_test(
    harness: pytest.Pytester, api: str, fragments: tuple[str, ...]
) -> None:
    harness.makefile(".txt", ids="x\n")
    path = profile(harness, f'[services.api]\nurl = "http://127.0.0.1:9"\n{api}\n')
    result = harness.runpytest_subprocess("--target", path)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_line(result, "ERROR:", *fragments)


CHAOS_PLUGINS = 'pytest_plugins = ["plugins.target", "plugins.chaos_selection", "plugins.services"]'
CHAOS_TEST = "def test_x(chaos_case):\n    assert chaos_case\n"


def test_unknown_chaos_experiment_stops_the_run_before_any_fault(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CHAOS_PLUGINS)
    pytester.makepyfile(test_x=CHAOS_TEST)
    result = pytester.runpytest_subprocess("--chaos-experiment", "redis-latncy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_line(result, "ERROR:", "no chaos experiment 'redis-latncy'", "redis-latency")


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ('{"title": "x", "description": "y"}', "fails Chaos Toolkit's validation"),
        ("{not json", "not readable JSON"),
        (
            '{"title": "x", "description": "y", "method": [{"type": "action", "name": "a",'
            ' "provider": {"type": "python", "module": "chaos.activities", "func": "nope"}}]}',
            "fails Chaos Toolkit's validation",
        ),
    ],
)
def test_an_experiment_file_chaos_toolkit_rejects_is_one_line(
    pytester: pytest.Pytester, document: str, fragment: str
) -> None:
    pytester.makeconftest(CHAOS_PLUGINS)
    pytester.makepyfile(test_x=CHAOS_TEST)
    path = pytester.makefile(".json", mine=document)
    result = pytester.runpytest_subprocess("--chaos-experiment", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_line(result, "ERROR:", str(path), fragment)


def test_a_chosen_experiment_file_runs_alone(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CHAOS_PLUGINS)
    pytester.makepyfile(test_x=CHAOS_TEST)
    result = pytester.runpytest_subprocess("--chaos-experiment", "redis-latency", "-v")
    result.assert_outcomes(passed=1)
    assert any("test_x[redis-latency]" in line for line in result.outlines)


def test_an_unknown_fault_kind_in_a_profile_stops_the_run(harness: pytest.Pytester) -> None:
    path = profile(harness, '[chaos]\nallow = ["latency", "earthquake"]\n')
    result = harness.runpytest_subprocess("--target", path)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_line(result, "ERROR:", "'chaos.allow' names unknown fault kind(s) earthquake")


# case -> (the workload key it changes, its line, what the one line must say)
BAD_DESCRIPTIONS = {
    "missing-locustfile": ("traffic", 'locustfile = "gone.py"', "which is not a file"),
    "no-user-class": ("traffic", 'locustfile = "plain.py"', "defines no Locust user class"),
    "unknown-generator": ("traffic", 'requests = [{ request = "GET /q/{sku}" }]', "names {sku}"),
    "rate-not-positive": ("rate", 'rate = "0/s"', "must be a rate > 0"),
    "bad-duration": ("duration", 'duration = "a while"', "must be a duration with its unit"),
    "unknown-bound": ("bounds", "bounds = { p97 = '1s' }", "'workloads.w.bounds.p97' is unknown"),
}
GOOD_WORKLOAD = {
    "rate": 'rate = "10/s"',
    "duration": 'duration = "1m"',
    "traffic": 'requests = [{ request = "GET /q" }]',
    "bounds": "bounds = { p95 = '1s' }",
}


def _description(tmp: Path, key: str, line: str) -> Path:
    (tmp / "plain.py").write_text("class NotAUser:\n    pass\n")
    workload = {**GOOD_WORKLOAD, key: line}
    path = tmp / "system.toml"
    path.write_text('version = 1\nname = "bad"\n[workloads.w]\n' + "\n".join(workload.values()))
    return path


@pytest.mark.parametrize("case", list(BAD_DESCRIPTIONS))
def test_a_bad_description_is_one_line_and_starts_nothing(
    case: str, tmp_path: Path, pytester: pytest.Pytester
) -> None:
    key, line, fragment = BAD_DESCRIPTIONS[case]
    path = _description(tmp_path, key, line)
    started = time.monotonic()
    drill = subprocess.run(
        [sys.executable, "-m", "drill", "--quick", "--system", str(path)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    output = (drill.stdout + drill.stderr).strip()
    assert drill.returncode == 2, output
    assert output.count("\n") == 0, f"one line, got:\n{output}"
    assert fragment in output
    assert str(path) in output
    assert time.monotonic() - started < 30, "refused before any service started"
    result = pytester.runpytest_subprocess(
        str(REPO / "suites" / "load"), "--system", str(path), "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_line(result, fragment)
    assert "reliability-" not in "\n".join(result.outlines), "no server started"
