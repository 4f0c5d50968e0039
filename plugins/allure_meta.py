"""What makes the Allure results audit evidence: labels, environment, categories.

- Every test gets an epic (the acceptance criterion its suite proves; the harness's own
  tests are one epic), a feature (its module), a story (its test function), a severity
  (`pr_gate`: critical, `drill`: normal, the harness's own tests: minor) and a title.
- `environment.properties` (target, backend, images, the servers' versions, the harness's
  version and git commit, Python, the key Python packages' versions and the hash of the
  pinned set, `constraints.txt`, the Go toolchain that built Toxiproxy and Toxiproxy's
  version, both read from its binary) and `categories.json` (SLO violations, undecided
  gates, invalid runs, harness or infrastructure errors) are written once per run into the
  results directory — by the controller only under pytest-xdist.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import allure
import pytest

from fixtures.phases import listen
from fixtures.providers.registry import PROVIDERS
from fixtures.tools import tools_home
from plugins.target import HARNESS_CONTEXT

ROOT = Path(__file__).resolve().parents[1]
# The Python packages whose versions decide what a run measures and how (all of them are
# pinned in constraints.txt, whose hash is recorded beside them).
KEY_PACKAGES = (
    "pytest",
    "pytest-xdist",
    "allure-pytest",
    "locust",
    "chaostoolkit",
    "chaostoolkit-lib",
    "chaostoolkit-toxiproxy",
    "psycopg",
    "neo4j",
    "redis",
    "boto3",
    "moto",
    "testcontainers",
    "pydantic",
)
GO_BUILDINFO_MAGIC = b"\xff Go buildinf:"
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
        "python.constraints": _constraints_hash(),
    }
    for package in KEY_PACKAGES:
        values[f"python.{package}"] = _package_version(package)
    go, toxiproxy = _go_build(tools_home() / "bin" / "toxiproxy-server")
    values["go.toolchain"] = go
    values["tool.toxiproxy"] = toxiproxy
    for name, provider in sorted(PROVIDERS.items()):
        image = getattr(__import__(provider.__module__, fromlist=["IMAGE"]), "IMAGE", None)
        if isinstance(image, str):
            values[f"server.{name}"] = image
    return "".join(f"{key}={_escaped(value)}\n" for key, value in values.items())


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def _constraints_hash() -> str:
    """The first 16 hex digits of constraints.txt's SHA-256: which pinned set was installed."""
    try:
        return hashlib.sha256((ROOT / "constraints.txt").read_bytes()).hexdigest()[:16]
    except OSError:
        return "-"


def _go_build(binary: Path) -> tuple[str, str]:
    """The Go version that built `binary` and its main module's version, from the build
    information the Go linker embeds (Go 1.18+: the magic, pointer size, flags with bit 2,
    then at offset 32 two length-prefixed strings: the Go version and the module info)."""
    try:
        data = binary.read_bytes()
    except OSError:
        return "-", "-"
    start = data.find(GO_BUILDINFO_MAGIC)
    if start < 0 or not data[start + 15] & 0x2:
        return "-", "-"
    go, offset = _uvarint_string(data, start + 32)
    modules, _ = _uvarint_string(data, offset)
    version = next(
        (line.split("\t")[2] for line in modules.splitlines() if line.startswith("mod\t")), "-"
    )
    return go or "-", version


def _uvarint_string(data: bytes, offset: int) -> tuple[str, int]:
    length, shift = 0, 0
    while offset < len(data):
        byte = data[offset]
        offset += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    return data[offset : offset + length].decode(errors="replace"), offset + length


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
