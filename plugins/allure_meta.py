"""What makes the Allure results audit evidence: labels, environment, categories.

- Every test gets an epic (the acceptance criterion its suite proves; the harness's own
  tests are one epic), a feature (its module), a story (its test function), a severity
  (`pr_gate`: critical, `drill`: normal, the harness's own tests: minor) and a title.
- `environment.properties` (target, backend, images, the servers' versions, the harness's
  version and git commit, Python) and `categories.json` (SLO violations, undecided gates,
  invalid runs, harness or infrastructure errors) are written once per run into the
  results directory — by the controller only under pytest-xdist.
"""

from __future__ import annotations

import contextlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import allure
import pytest

from fixtures.phases import listen
from fixtures.providers.registry import PROVIDERS
from plugins.target import HARNESS_CONTEXT

ROOT = Path(__file__).resolve().parents[1]
LABEL = "allure_label"
EPICS = {
    "load": "P95 latency and error rate under load",
    "chaos": "Chaos hypotheses hold under real faults",
    "dr": "Exact point-in-time restore, RPO and RTO",
    "alerts": "Alerts fire when they should, and only then",
}
HARNESS_EPIC = "The harness's own tests"
CATEGORIES = [
    {
        "name": "Undecided gates (the interval straddles the bound: run longer)",
        "matchedStatuses": ["failed"],
        "messageRegex": r"(?s).*undecided.*",
    },
    {
        "name": "Invalid runs (the harness could not measure: not the target's fault)",
        "matchedStatuses": ["failed"],
        "messageRegex": r"(?s).*invalid run.*",
    },
    {
        "name": "SLO and criterion violations (the target)",
        "matchedStatuses": ["failed"],
        "messageRegex": (
            r"(?s).*(> bound|exceeded|RPO|RTO|did not fire|did not resolve|hypothesis|"
            r"lost|not restored|does not hold).*"
        ),
    },
    {
        "name": "Harness or infrastructure errors",
        "matchedStatuses": ["broken", "failed"],
        "messageRegex": r"(?s).*(ServiceStartError|unreachable|not ready within|Docker|"
        r"Error|error).*",
    },
]


def pytest_configure(config: pytest.Config) -> None:
    """Every phase an engine marks (`fixtures/phases.py`) is an Allure step of its test."""
    stop = listen(allure.step)
    config.add_cleanup(stop)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.nodeid.split("/")
        suite = parts[1] if parts[0] == "suites" and len(parts) > 2 else None
        epic = EPICS.get(suite or "", HARNESS_EPIC)
        module = Path(item.nodeid.split("::", 1)[0]).stem
        function = getattr(item, "originalname", item.name)
        if item.get_closest_marker("pr_gate") is not None:
            severity = "critical"
        elif item.get_closest_marker("drill") is not None:
            severity = "normal"
        else:
            severity = "minor"
        for value, kind in (
            (epic, "epic"),
            (module, "feature"),
            (function, "story"),
            (severity, "severity"),
        ):
            item.add_marker(getattr(pytest.mark, LABEL)(value, label_type=kind))
        obj = getattr(item, "obj", None)
        if obj is not None and not hasattr(obj, "__allure_display_name__"):
            # a builtin or bound method takes no attribute: no title then
            with contextlib.suppress(AttributeError, TypeError):
                obj.__allure_display_name__ = _title(function)


def _title(function: str) -> str:
    words = function.removeprefix("test_").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    directory = getattr(config.option, "allure_report_dir", None)
    if not directory or hasattr(config, "workerinput"):  # xdist workers leave it to the controller
        return
    results = Path(directory)
    results.mkdir(parents=True, exist_ok=True)
    (results / "environment.properties").write_text(environment(config))
    (results / "categories.json").write_text(json.dumps(CATEGORIES, indent=1) + "\n")


def environment(config: pytest.Config) -> str:
    context = config.stash.get(HARNESS_CONTEXT, None)
    values = {
        "target": context.profile.describe() if context else "-",
        "backend": context.backend.backend.value if context else "-",
        "images": context.images.value if context else "-",
        "harness.version": _version(),
        "harness.commit": _commit(),
        "python": platform.python_version(),
    }
    for name, provider in sorted(PROVIDERS.items()):
        image = getattr(__import__(provider.__module__, fromlist=["IMAGE"]), "IMAGE", None)
        if isinstance(image, str):
            values[f"server.{name}"] = image
    return "".join(f"{key}={_escaped(value)}\n" for key, value in values.items())


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", " ").replace("=", "\\=").replace(":", "\\:")


def _version() -> str:
    try:
        return metadata.version("reliability-harness")
    except metadata.PackageNotFoundError:
        return "-"


def _commit() -> str:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=ROOT, capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except OSError:
        return "-"
    return found.stdout.strip() or "-"
