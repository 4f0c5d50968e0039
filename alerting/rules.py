"""A system's rule files (its description's `[alerts] rules` directory), their promtool
checks (`<rules>/tests/*.test.yml`), and the test profile.

Production rules keep production `for:` durations and `[5m]` windows. The *test profile*
is derived from them, never kept as a second copy: every `for:` above zero becomes
`TEST_FOR` and every range window becomes `TEST_WINDOW`, everything else (names,
expressions, thresholds, labels, annotations) stays as written. So the end-to-end tests
exercise the very expressions production evaluates.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alerting.errors import AlertRuleError
from fixtures.tools import require_binary, run_tool

RULE_SUFFIX = ".rules.yml"
TEST_SUFFIX = ".test.yml"
TESTS_FOLDER = "tests"
TEST_FOR = "5s"
TEST_WINDOW = "10s"
PROMTOOL_TIMEOUT_SECONDS = 120.0
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_RANGE = re.compile(r"\[(\d+(?:ms|s|m|h|d|w|y))+\]")


@dataclass(frozen=True)
class AlertRule:
    name: str
    expr: str
    for_seconds: float
    file: Path
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """How a message names it (alert names are unique among a system's alert rules)."""
        return self.name


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration ("2m", "1h30m", "35d"); `AlertRuleError` if malformed."""
    text = str(text).strip()
    if text in ("0", ""):
        return 0.0
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise AlertRuleError(f"{text!r} is not a Prometheus duration (e.g. 30s, 2m, 1h30m)")
    return float(sum(int(number) * _SECONDS[unit] for number, unit in parts))


def longest_window(expr: str) -> float:
    """The longest range window (`[5m]`) of an expression, in seconds; 0 without any."""
    windows = re.findall(r"\[((?:\d+(?:ms|s|m|h|d|w|y))+)\]", expr)
    return max((parse_duration(window) for window in windows), default=0.0)


def rule_files(directory: Path | str) -> list[Path]:
    """The `*.rules.yml` files of `directory` (a description's `[alerts] rules`), sorted."""
    return sorted(Path(directory).glob(f"*{RULE_SUFFIX}"))


def rule_tests_file(rule_file: Path) -> Path:
    """Where the promtool unit tests of `rule_file` live: `tests/<name>.test.yml` beside it."""
    return rule_file.parent / TESTS_FOLDER / rule_file.name.replace(RULE_SUFFIX, TEST_SUFFIX)


def read_rule_file(path: Path) -> dict[str, Any]:
    """The YAML document of a rule file; one-line `AlertRuleError` if it does not parse."""
    return _parse(path, path.read_text())


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise AlertRuleError(f"alert rules {path}: not valid YAML{where}: {problem}") from None
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        raise AlertRuleError(f"alert rules {path}: expected a top-level 'groups:' list")
    return document


def load_rules(paths: Iterable[Path]) -> dict[str, AlertRule]:
    """Every alerting rule by name; a duplicate name or a malformed rule is an error."""
    rules: dict[str, AlertRule] = {}
    for path in paths:
        for raw in _raw_rules(path):
            rule = _rule(path, raw)
            if rule.name in rules:
                raise AlertRuleError(
                    f"alert rule {rule.name} is defined twice ({rules[rule.name].file.name}, "
                    f"{path.name}); rename one"
                )
            rules[rule.name] = rule
    return rules


@dataclass(frozen=True)
class RuleSet:
    """Rule files as Prometheus loads them and the rules they hold."""

    texts: dict[str, str]  # file name -> YAML
    rules: dict[str, AlertRule]  # rule name -> rule


def shortened_rule_set(directory: Path | str) -> RuleSet:
    """Every rule file of `directory` with the test profile's short `for:` and windows."""
    texts = shortened_rule_files(directory)
    return RuleSet(texts, rules_from_texts(texts))


def shortened_rule_files(directory: Path | str) -> dict[str, str]:
    """File name -> the test profile's text, for every rule file of `directory`."""
    return {path.name: shorten_for_tests(path.read_text()) for path in rule_files(directory)}


def rules_from_texts(texts: Mapping[str, str]) -> dict[str, AlertRule]:
    """`load_rules` for rule files given as text (a test profile, a rule with a typo)."""
    rules: dict[str, AlertRule] = {}
    for name, text in texts.items():
        path = Path(name)
        for raw in _rules_of(path, _parse(path, text)):
            rules[str(raw["alert"])] = _rule(path, raw)
    return rules


def select_rules(rules: Mapping[str, AlertRule], names: Iterable[str]) -> list[AlertRule]:
    """The rules named (all when none is); an unknown name is an error naming the known ones."""
    wanted = list(names)
    unknown = [name for name in wanted if name not in rules]
    if unknown:
        raise AlertRuleError(
            f"unknown alert rule {', '.join(unknown)}; known: {', '.join(sorted(rules))}"
        )
    return [rules[name] for name in (wanted or sorted(rules))]


def shorten_for_tests(text: str, for_duration: str = TEST_FOR, window: str = TEST_WINDOW) -> str:
    """The rule file `text` with short `for:` durations and range windows (module docstring)."""
    document = yaml.safe_load(text)
    for group in document.get("groups", []):
        for rule in group.get("rules", []):
            if parse_duration(rule.get("for", "0")) > 0:
                rule["for"] = for_duration
            rule["expr"] = _RANGE.sub(f"[{window}]", str(rule["expr"]))
    return str(yaml.safe_dump(document, sort_keys=False, width=1000))


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool", "prometheus")
    return run_tool(binary, *arguments, timeout=PROMTOOL_TIMEOUT_SECONDS)


def check_rules(path: Path) -> None:
    """`promtool check rules`; one line naming the file and promtool's first complaint."""
    result = promtool("check", "rules", str(path))
    if result.returncode != 0:
        complaint = _first_complaint(result.stdout + result.stderr)
        raise AlertRuleError(f"alert rules {path} do not pass promtool check: {complaint}")


def run_rule_tests(path: Path) -> str:
    """`promtool test rules`; returns promtool's output (its diff when the test failed)."""
    result = promtool("test", "rules", str(path))
    if result.returncode != 0:
        raise AssertionError(
            f"promtool test rules {path.name} failed:\n{result.stdout}{result.stderr}"
        )
    return result.stdout


def _raw_rules(path: Path) -> list[dict[str, Any]]:
    return _rules_of(path, read_rule_file(path))


def _rules_of(path: Path, document: Mapping[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for group in document["groups"]:
        if not isinstance(group, dict) or not isinstance(group.get("rules", []), list):
            raise AlertRuleError(f"alert rules {path}: each group needs a 'rules:' list")
        rules.extend(rule for rule in group.get("rules", []) if "alert" in rule)
    return rules


def _rule(path: Path, raw: Mapping[str, Any]) -> AlertRule:
    if not raw.get("expr"):
        raise AlertRuleError(f"alert rules {path}: rule {raw.get('alert')} has no expr")
    return AlertRule(
        name=str(raw["alert"]),
        expr=str(raw["expr"]).strip(),
        for_seconds=parse_duration(raw.get("for", "0")),
        file=path,
        labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (raw.get("annotations") or {}).items()},
    )


def _first_complaint(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    failing = [line for line in lines if not line.startswith(("Checking", "SUCCESS", "FAILED:"))]
    return failing[0] if failing else (lines[-1] if lines else "no output")
