"""Does a Prometheus run a system's rules as written?

A rule file that passes promtool in the repository proves nothing about the Prometheus of
an environment: the file may not be deployed, may be an older version, or may have been
edited by hand there. The rules that Prometheus has loaded (`/api/v1/rules`) are compared,
rule by rule, with the files the description names — the alert rules (`[alerts] rules`)
and the SLO's rules (`[alerts.slo] rules`: Sloth's recording rules and alerts, and the
hand-written ones beside them), alerting and recording alike: each must be loaded with
the same expression and, for an alert, the same `for:`. Rules of other teams in the same
Prometheus are not this check's business.

A rule is known by its type, name and labels: Sloth's page and ticket alerts share a name
and differ by `sloth_severity`, so a message names a rule by its name plus the labels that
tell it apart from its namesakes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import promql_parser as promql
import requests

from alerting.errors import AlertRuleError
from alerting.rules import parse_duration, read_rule_file, rule_files
from system.description import Alerts

HTTP_TIMEOUT_SECONDS = 10.0
Kind = Literal["alerting", "recording"]


@dataclass(frozen=True)
class WrittenRule:
    """One rule of a rule file, alerting or recording, as Prometheus would load it."""

    kind: Kind
    name: str
    expr: str
    for_seconds: float
    labels: tuple[tuple[str, str], ...]  # sorted
    title: str  # the name, plus the labels that tell it from its namesakes

    @property
    def key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return (self.kind, self.name, self.labels)


def rule_directories(alerts: Alerts) -> list[Path]:
    """The directories of the description's rule files: the alerts', then the SLO's."""
    directories = [Path(alerts.rules)]
    if alerts.slo is not None:
        directories.append(Path(alerts.slo.rules))
    return directories


def rule_texts(directories: Iterable[Path]) -> dict[str, str]:
    """The rule files of `directories` to deploy: `<directory>-<file>` -> its text (two
    directories may hold files of the same name)."""
    return {
        f"{directory.name}-{path.name}": path.read_text()
        for directory in directories
        for path in rule_files(directory)
    }


def written_rules(directories: Iterable[Path]) -> list[WrittenRule]:
    """Every rule of the `*.rules.yml` files of `directories`, in file order."""
    raw: list[tuple[Kind, str, str, float, tuple[tuple[str, str], ...]]] = []
    for directory in directories:
        for path in rule_files(directory):
            for group in read_rule_file(path).get("groups") or []:
                for rule in group.get("rules") or []:
                    raw.append(_raw(path, rule))
    pairs: dict[tuple[str, str], list[set[str]]] = {}
    for kind, name, _, _, labels in raw:
        pairs.setdefault((kind, name), []).append({f"{k}={v}" for k, v in labels})
    # labels every namesake has tell none of them apart
    shared = {key: set.intersection(*sets) for key, sets in pairs.items() if len(sets) > 1}
    rules = []
    for kind, name, expr, for_seconds, labels in raw:
        title = name
        if (kind, name) in shared:
            telling = [f"{k}={v}" for k, v in labels if f"{k}={v}" not in shared[(kind, name)]]
            title = f"{name} ({', '.join(telling)})"
        rules.append(WrittenRule(kind, name, expr, for_seconds, labels, title))
    return rules


def _raw(
    path: Path, rule: Mapping[str, Any]
) -> tuple[Kind, str, str, float, tuple[tuple[str, str], ...]]:
    labels = tuple(sorted((str(k), str(v)) for k, v in (rule.get("labels") or {}).items()))
    if "alert" in rule:
        for_seconds = parse_duration(str(rule.get("for", "0")))
        return ("alerting", str(rule["alert"]), str(rule["expr"]), for_seconds, labels)
    if "record" in rule:
        return ("recording", str(rule["record"]), str(rule["expr"]), 0.0, labels)
    raise AlertRuleError(f"{path}: a rule with neither `alert` nor `record`: {dict(rule)}")


def loaded_rules(prometheus_url: str) -> list[Mapping[str, Any]]:
    """Every rule the Prometheus at `prometheus_url` has loaded (`/api/v1/rules`)."""
    answer = requests.get(
        f"{prometheus_url.rstrip('/')}/api/v1/rules", timeout=HTTP_TIMEOUT_SECONDS
    )
    answer.raise_for_status()
    return [rule for group in answer.json()["data"]["groups"] for rule in group["rules"]]


def compare(written: Sequence[WrittenRule], loaded: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per written rule the Prometheus does not run as written."""
    deployed = {
        (
            str(rule.get("type")),
            str(rule.get("name")),
            tuple(sorted((str(k), str(v)) for k, v in (rule.get("labels") or {}).items())),
        ): rule
        for rule in loaded
    }
    problems = []
    for rule in written:
        found = deployed.get(rule.key)
        if found is None:
            problems.append(f"{rule.title}: not loaded")
        elif canonical(str(found.get("query", ""))) != canonical(rule.expr):
            problems.append(
                f"{rule.title}: expression {found.get('query')!r} differs from {rule.expr!r}"
            )
        elif rule.kind == "alerting" and float(found.get("duration", 0)) != rule.for_seconds:
            problems.append(
                f"{rule.title}: for {float(found.get('duration', 0)):g} s, written "
                f"{rule.for_seconds:g} s"
            )
    return problems


def canonical(expr: str) -> str:
    """The expression in one form, whoever wrote it: Prometheus renders a loaded rule its
    own way (`max(x) without (a)` as `max without (a) (x)`, `group_left` as `group_left
    ()`), which promql-parser's rendering shares; the matchers' order and the whitespace
    are then made one (`squeeze`)."""
    try:
        rendered = str(promql.parse(expr))
    except ValueError:  # promtool is the judge of syntax (test_rule_units.py)
        rendered = expr
    return squeeze(rendered)


def squeeze(text: str) -> str:
    """An expression without whitespace, each selector's matchers sorted: Prometheus
    renders a loaded rule in its own form (`{b="1", a="2"}` as `{a="2",b="1"}`)."""
    out: list[str] = []
    matchers: list[str] | None = None
    current = ""
    quote = ""
    for char in text:
        if quote:
            current += char
            if char == quote and not current.endswith("\\" + quote):
                quote = ""
            continue
        if char.isspace():
            continue
        if char in "\"'`":
            quote = char
            current += char
        elif char == "{" and matchers is None:
            out.append(current + "{")
            matchers, current = [], ""
        elif char == "," and matchers is not None:
            matchers.append(current)
            current = ""
        elif char == "}" and matchers is not None:
            matchers.append(current)
            out.append(",".join(sorted(item for item in matchers if item)) + "}")
            matchers, current = None, ""
        else:
            current += char
    return "".join(out) + current
