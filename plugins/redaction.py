"""No secret in any output: the terminal, logs, JUnit XML, Allure results.

The secrets are the values a profile took from the environment (`${NAME}`) and any
password written into a URL of it. They are replaced by `***`:

- in every test report before anyone reads it (the terminal, the JUnit XML and
  allure-pytest all read the report: the failure text, captured output and logs);
- in every record the logging system emits (a filter on the root logger's handlers);
- in what the harness attaches to Allure (`plugins.evidence` redacts first);
- at the end of the session, in every file of the Allure results directory (whatever
  allure-pytest wrote on its own, such as fixture parameters), as a last safety net.

The set is process-wide (`install`), as logging's configuration is: it is known once the
profile is read, before any test.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, Iterable
from pathlib import Path

import pytest

MASK = "***"
_SECRETS: list[str] = []  # longest first, so that a secret inside another is masked whole


def install(secrets: Iterable[str]) -> None:
    """Mask these values from now on (values shorter than 4 characters are too common to
    mask safely and are kept out of profiles' secrets by their length)."""
    found = {secret for secret in secrets if len(secret) >= 4}
    _SECRETS[:] = sorted(found | set(_SECRETS), key=len, reverse=True)
    _install_log_filter()


def secrets() -> tuple[str, ...]:
    return tuple(_SECRETS)


def redact(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, MASK)
        escaped = json.dumps(secret)[1:-1]  # as it appears inside a JSON string
        if escaped != secret and escaped in text:
            text = text.replace(escaped, MASK)
    return text


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_FILTER = _RedactingFilter()


def _install_log_filter() -> None:
    root = logging.getLogger()
    if _FILTER not in root.filters:
        root.addFilter(_FILTER)
    for handler in root.handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


def redact_report(report: pytest.CollectReport | pytest.TestReport) -> None:
    """The report's failure text and captured sections, masked in place."""
    if not _SECRETS:
        return
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):
        # A skip's (path, lineno, message): pytest unpacks it, so only the message changes.
        path, lineno, message = longrepr
        report.longrepr = (path, lineno, redact(message))
    elif longrepr is not None:
        text = str(longrepr)
        masked = redact(text)
        if masked != text:
            report.longrepr = masked
    report.sections = [(title, redact(content)) for title, content in report.sections]
    if isinstance(report, pytest.TestReport):
        report.user_properties = [
            (name, redact(value) if isinstance(value, str) else value)
            for name, value in report.user_properties
        ]


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Innermost: the report is masked before the terminal, JUnit or Allure see it."""
    report = yield
    redact_report(report)
    return report


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    redact_report(report)
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    directory = session.config.getoption("--alluredir", default=None)
    if _SECRETS and directory:
        redact_directory(Path(directory))


def redact_directory(directory: Path) -> None:
    """Every text file under `directory`, masked in place (binary ones are left alone)."""
    if not directory.is_dir():
        return
    for path in directory.rglob("*"):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        masked = redact(text)
        if masked != text:
            path.write_text(masked, encoding="utf-8")
