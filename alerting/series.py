"""Rules against live series: every vector selector of an alert rule must select series in
a Prometheus that scrapes the real target (the SRE's version of pint's `promql/series`).

promtool's unit tests feed a rule the series its test writes, so a rule whose metric or
label the target never exports passes them and never fires. Here each selector is checked
against what the Prometheus holds over the last `WINDOW_SECONDS` (stale series count):

- its metric must have series (`no series named ...`);
- each matcher that needs a label (one the empty value does not satisfy: `a="x"`,
  `a=~".+"`, `a!=""`) must name a label some series of the metric has;
- each label of an aggregation's `by (...)` / `without (...)` over it likewise (`le` of a
  histogram's buckets is a label like any other);
- a value never seen (`status=~"5.."` on a target that answered no 5xx) is no failure, it
  is a *note*: a healthy target need not show the values an alert waits for;
- selectors inside `absent(...)` / `absent_over_time(...)` are meant to select nothing:
  not checked.

Expressions are parsed by `promql-parser` (Python binding of GreptimeTeam's Rust crate):
its AST gives each selector's metric name and matchers and each aggregation's grouping.
Regular expressions are judged with Python's `re` (Prometheus uses RE2; the two agree on
the expressions rules hold): it only decides whether a matcher needs its label and the
notes; a regex Python cannot read is not checked, and said so in a note.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import promql_parser as promql
import requests

from alerting.errors import LiveSeriesError

WINDOW_SECONDS = 600.0  # series scraped this long ago still count (stale ones too)
HTTP_TIMEOUT_SECONDS = 10.0
EXEMPT_FUNCTIONS = frozenset({"absent", "absent_over_time"})
LABEL_MAKERS = frozenset({"label_replace", "label_join"})  # their 2nd argument: a new label
NAME = "__name__"
UNSEEN = "not seen on a healthy target"
UNPUBLISHED = "none pushed here yet"
_OPERATORS = (  # pairs: the binding's MatchOp compares equal but is not hashable
    (promql.MatchOp.Equal, "="),
    (promql.MatchOp.NotEqual, "!="),
    (promql.MatchOp.Re, "=~"),
    (promql.MatchOp.NotRe, "!~"),
)

Series = Mapping[str, str]  # one series' labels, `__name__` included


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # =, !=, =~, !~
    value: str

    def text(self) -> str:
        return f"{self.label}{self.op}{json.dumps(self.value, ensure_ascii=False)}"

    def matches(self, value: str) -> bool | None:
        """Whether a label value (`""`: the label is absent) satisfies this matcher; None
        when the regular expression is not one Python reads."""
        if self.op in ("=", "!="):
            return (value == self.value) == (self.op == "=")
        try:
            found = re.fullmatch(self.value, value) is not None
        except re.error:
            return None
        return found == (self.op == "=~")

    def needs_label(self) -> bool:
        """True when a series without the label cannot match (its value would be `""`)."""
        return self.matches("") is False


@dataclass(frozen=True)
class Selector:
    """A vector selector as the rule writes it, without its `offset` or `@`."""

    metric: str | None
    matchers: tuple[Matcher, ...]  # the metric name not among them

    def text(self) -> str:
        inner = ",".join(matcher.text() for matcher in self.matchers)
        return f"{self.metric or ''}{{{inner}}}" if inner or not self.metric else self.metric

    def universe(self) -> str:
        """The series selector whose series' labels this selector is checked against: its
        metric's, else those its `__name__` matchers allow, else its own."""
        if self.metric is not None:
            return f"{{{Matcher(NAME, '=', self.metric).text()}}}"
        names = [matcher for matcher in self.matchers if matcher.label == NAME]
        return Selector(None, tuple(names or self.matchers)).text()

    def what(self) -> str:
        """The series the selector is about, for a message: its metric's name, or its
        `__name__` matchers."""
        return self.metric or self.universe()

    def label_matchers(self) -> tuple[Matcher, ...]:
        return tuple(matcher for matcher in self.matchers if matcher.label != NAME)


@dataclass(frozen=True)
class Grouping:
    """An aggregation's `by (...)` or `without (...)` over the selectors below it."""

    clause: str  # e.g. "sum by (job, le)"
    labels: tuple[str, ...]
    selectors: tuple[Selector, ...]
    made: frozenset[str] = frozenset()  # labels a label_replace/label_join/count_values makes


@dataclass(frozen=True)
class Extracted:
    """What of an expression is checked against live series."""

    selectors: tuple[Selector, ...]
    groupings: tuple[Grouping, ...]


@dataclass(frozen=True)
class Finding:
    rule: str
    selector: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.selector}: {self.message}"


@dataclass(frozen=True)
class Report:
    """Problems (a selector that selects nothing: its rule can never fire) and notes
    (evidence: values a healthy target did not show, expressions not checked)."""

    rules: int
    selectors: int
    problems: tuple[Finding, ...] = ()
    notes: tuple[Finding, ...] = ()
    by_rule: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # rule: problems

    @property
    def failing_selectors(self) -> int:
        return len({(finding.rule, finding.selector) for finding in self.problems})

    def summary(self) -> str:
        if not self.problems:
            return f"every selector of {self.rules} rules selects live series ({self.selectors})"
        return (
            f"{self.failing_selectors} selector(s) of {self.rules} rules select no live "
            f"series, so those rules can never fire: " + "; ".join(map(str, self.problems))
        )

    def evidence(self) -> str:
        """The summary, then every problem and note, one a line."""
        lines = [self.summary()]
        lines += [f"problem: {finding}" for finding in self.problems]
        lines += [f"note: {finding}" for finding in self.notes]
        return "\n".join(lines)


def extract(expr: str) -> Extracted:
    """The selectors (and aggregation groupings) of a PromQL expression; `ValueError` when
    it does not parse."""
    selectors: list[Selector] = []
    groupings: list[Grouping] = []
    _visit(promql.parse(expr), selectors, groupings, exempt=False)
    return Extracted(tuple(dict.fromkeys(selectors)), tuple(dict.fromkeys(groupings)))


def _visit(
    node: promql.Expr, selectors: list[Selector], groupings: list[Grouping], *, exempt: bool
) -> tuple[list[Selector], set[str]]:
    """Collect what `node` holds; return the selectors whose labels reach its result and
    the labels made on the way (by label_replace, label_join, count_values)."""
    if isinstance(node, promql.VectorSelector):
        found = [] if exempt else _selectors(node)
        selectors.extend(found)
        return found, set()
    if isinstance(node, promql.AggregateExpr):
        return _aggregate(node, selectors, groupings, exempt=exempt)
    if isinstance(node, promql.Call):
        return _call(node, selectors, groupings, exempt=exempt)
    return _children(_operands(node), selectors, groupings, exempt=exempt)


def _operands(node: promql.Expr) -> list[promql.Expr]:
    if isinstance(node, promql.MatrixSelector):
        return [node.vector_selector]
    if isinstance(node, promql.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, promql.ParenExpr | promql.UnaryExpr | promql.SubqueryExpr):
        return [node.expr]
    return []  # number and string literals


def _call(
    node: promql.Call, selectors: list[Selector], groupings: list[Grouping], *, exempt: bool
) -> tuple[list[Selector], set[str]]:
    inner = exempt or node.func.name in EXEMPT_FUNCTIONS
    below, made = _children(node.args, selectors, groupings, exempt=inner)
    if node.func.name in LABEL_MAKERS and isinstance(node.args[1], promql.StringLiteral):
        made.add(node.args[1].val)
    return below, made


def _children(
    nodes: Iterable[object],
    selectors: list[Selector],
    groupings: list[Grouping],
    *,
    exempt: bool,
) -> tuple[list[Selector], set[str]]:
    below: list[Selector] = []
    made: set[str] = set()
    for child in nodes:
        if isinstance(child, promql.Expr):
            found, labels = _visit(child, selectors, groupings, exempt=exempt)
            below += found
            made |= labels
    return below, made


def _aggregate(
    node: promql.AggregateExpr,
    selectors: list[Selector],
    groupings: list[Grouping],
    *,
    exempt: bool,
) -> tuple[list[Selector], set[str]]:
    _children([node.param], selectors, groupings, exempt=exempt)  # topk's k: checked, no source
    below, made = _children([node.expr], selectors, groupings, exempt=exempt)
    op = str(node.op)
    if op == "count_values" and isinstance(node.param, promql.StringLiteral):
        made.add(node.param.val)
    modifier = node.modifier
    if modifier is not None and modifier.labels and below:
        kind = "by" if modifier.type == promql.AggModifierType.By else "without"
        clause = f"{op} {kind} ({', '.join(modifier.labels)})"
        sources = tuple(dict.fromkeys(below))
        groupings.append(Grouping(clause, tuple(modifier.labels), sources, frozenset(made)))
    return below, made


def _selectors(node: promql.VectorSelector) -> list[Selector]:
    """One selector, or one per alternative of `{a="x" or b="y"}` (Prometheus 3)."""
    groups = node.matchers.or_matchers or [node.matchers.matchers]
    return [Selector(node.name, tuple(_matcher(item) for item in group)) for group in groups]


def _matcher(matcher: promql.Matcher) -> Matcher:
    (op,) = (text for op, text in _OPERATORS if op == matcher.op)
    return Matcher(matcher.name, op, matcher.value)


def classify(
    selector: Selector, series: Sequence[Series], names: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """Problems and notes of one selector, given the series of its universe (`universe()`).
    `names`: the metric names Prometheus knows, for a "did you mean" on a missing one."""
    if not series:
        return [_nothing(selector, names)], []
    problems: list[str] = []
    notes: list[str] = []
    present = _labels(series)
    for matcher in selector.label_matchers():
        if matcher.matches("") is None:
            notes.append(f"{matcher.text()}: not checked (a regex Python's re cannot read)")
        elif matcher.needs_label() and matcher.label not in present:
            problems.append(_no_label(selector.what(), matcher.label, present))
        elif matcher.needs_label() and not _any_match(matcher, series):
            notes.append(f"no series of {selector.what()} has {matcher.text()} ({UNSEEN})")
    if not problems and not notes and not any(_all_match(selector, one) for one in series):
        notes.append(f"no series of {selector.what()} matches all its matchers ({UNSEEN})")
    return problems, notes


def classify_grouping(grouping: Grouping, series: Mapping[Selector, Sequence[Series]]) -> list[str]:
    """Problems of an aggregation's grouping: a label no series below it has (nor a
    function between makes). Silent when no selector below has series: that is reported
    for the selectors themselves."""
    found = [one for selector in grouping.selectors for one in series.get(selector, ())]
    if not found:
        return []
    present = _labels(found) | grouping.made
    whats = " or ".join(dict.fromkeys(selector.what() for selector in grouping.selectors))
    return [
        f"{grouping.clause}: {_no_label(whats, label, present)}"
        for label in grouping.labels
        if label not in present
    ]


def _nothing(selector: Selector, names: Sequence[str]) -> str:
    if selector.metric is None:
        return f"no series matches {selector.universe()}"
    close = difflib.get_close_matches(selector.metric, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"no series named {selector.metric}{hint}"


def _no_label(what: str, label: str, present: Iterable[str]) -> str:
    known = ", ".join(sorted(name for name in present if name != NAME))
    return f"no series of {what} has label {label} (its labels: {known or 'none'})"


def _labels(series: Iterable[Series]) -> set[str]:
    return {label for one in series for label in one}


def _any_match(matcher: Matcher, series: Iterable[Series]) -> bool:
    return any(matcher.matches(one.get(matcher.label, "")) for one in series)


def _all_match(selector: Selector, one: Series) -> bool:
    return all(matcher.matches(one.get(matcher.label, "")) for matcher in selector.matchers)


class Checked(Protocol):
    """A rule to check: an alert rule (`alerting.rules.AlertRule`), or any rule of a file,
    recording ones too (`alerting.deployed.WrittenRule`), named by its title."""

    @property
    def title(self) -> str: ...
    @property
    def expr(self) -> str: ...


def check_live_series(
    prometheus_url: str, rules: Iterable[Checked], published: Collection[str] = ()
) -> Report:
    """Every selector of `rules` against the series of the Prometheus at `prometheus_url`
    over the last `WINDOW_SECONDS`; `LiveSeriesError` when it does not answer.
    `published`: metrics a drill publishes (pushes) rather than the target exports: in a
    shared environment none may be there before a drill has run, so their absence is a
    note, not a problem (a typo in their name still is: it is not one of them)."""
    source = _Source(prometheus_url.rstrip("/"), frozenset(published))
    problems: list[Finding] = []
    notes: list[Finding] = []
    by_rule: dict[str, tuple[str, ...]] = {}
    counted = 0
    rules = list(rules)
    for rule in rules:
        found, remarks, checked = _check_rule(rule, source)
        problems += found
        notes += remarks
        counted += checked
        by_rule[rule.title] = tuple(str(finding) for finding in found)
    return Report(len(rules), counted, tuple(problems), tuple(notes), by_rule)


def _check_rule(rule: Checked, source: _Source) -> tuple[list[Finding], list[Finding], int]:
    try:
        extracted = extract(rule.expr)
    except ValueError as error:  # promtool is the judge of syntax (test_rule_units.py)
        expr = " ".join(rule.expr.split())
        note = Finding(rule.title, expr, f"not checked: promql-parser cannot parse it: {error}")
        return [], [note], 0
    problems: list[Finding] = []
    notes: list[Finding] = []
    series = {selector: source.series(selector.universe()) for selector in extracted.selectors}
    for selector, found in series.items():
        if not found and selector.metric in source.published:
            message = f"no series yet: {selector.metric} is published by a drill ({UNPUBLISHED})"
            notes.append(Finding(rule.title, selector.text(), message))
            continue
        names = source.names() if not found and selector.metric else ()
        wrong, remarks = classify(selector, found, names)
        problems += [Finding(rule.title, selector.text(), message) for message in wrong]
        notes += [Finding(rule.title, selector.text(), message) for message in remarks]
    for grouping in extracted.groupings:
        where = ", ".join(selector.text() for selector in grouping.selectors)
        wrong = classify_grouping(grouping, series)
        problems += [Finding(rule.title, where, message) for message in wrong]
    return problems, notes, len(extracted.selectors)


class _Source:
    """The Prometheus's series over the window, each universe asked once."""

    def __init__(self, url: str, published: frozenset[str] = frozenset()) -> None:
        self.url = url
        self.published = published
        self.end = time.time()
        self.start = self.end - WINDOW_SECONDS
        self._series: dict[str, list[Series]] = {}
        self._names: list[str] | None = None

    def series(self, match: str) -> list[Series]:
        if match not in self._series:
            found = self._get("/api/v1/series", {"match[]": match})
            self._series[match] = [{str(k): str(v) for k, v in one.items()} for one in found]
        return self._series[match]

    def names(self) -> list[str]:
        if self._names is None:
            self._names = [str(name) for name in self._get(f"/api/v1/label/{NAME}/values", {})]
        return self._names

    def _get(self, path: str, params: Mapping[str, str]) -> list[Any]:
        window = {"start": f"{self.start:.3f}", "end": f"{self.end:.3f}"}
        try:
            answer = requests.get(
                f"{self.url}{path}", params={**params, **window}, timeout=HTTP_TIMEOUT_SECONDS
            )
            body = answer.json()
        except (requests.RequestException, ValueError) as error:
            raise LiveSeriesError(
                f"Prometheus at {self.url} did not answer {path} ({type(error).__name__}: "
                f"{error}); is it running?"
            ) from None
        if answer.status_code != requests.codes.ok or body.get("status") != "success":
            raise LiveSeriesError(
                f"Prometheus at {self.url} refused {path} {dict(params)}: HTTP "
                f"{answer.status_code}, {body.get('error', body)}"
            )
        data: list[Any] = body["data"]
        return data
