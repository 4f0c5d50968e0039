"""Secrets never appear in any output: terminal, JUnit XML, Allure results, logs.

A failing run against a profile whose values come from a secret in the environment (a
password in the target's URL and in the Postgres section) is run as a user would, with
JUnit and Allure on; tests in it print, log, assert with and attach the secret. Then every
output file is searched for it.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

SECRET = "Sup3r-S3cret-Value"
LEAKY_TESTS = """
import logging, os
import pytest
from plugins.evidence import attach_json, attach_text

SECRET = os.environ["HARNESS_TEST_SECRET"]

def test_uses_the_target(api):
    assert api.url

def test_prints_logs_and_fails_with_the_secret():
    print("the password is", SECRET)
    logging.getLogger("leaky").warning("connecting with %s", SECRET)
    attach_text("leak", f"password={SECRET}")
    attach_json("leak", {"password": SECRET})
    assert SECRET == "something else", f"login with {SECRET} failed"

def test_skips_naming_the_secret():
    pytest.skip(f"no access with {SECRET}")
"""


def test_a_failing_run_with_secrets_shows_none_of_them(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_TEST_SECRET", SECRET)
    pytester.makeconftest(
        'pytest_plugins = ["plugins.redaction", "plugins.target", "plugins.services"]'
    )
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    profile = pytester.makefile(
        ".toml",
        profile=(
            '[target]\nname = "with-secrets"\n'
            '[services.api]\nurl = "http://app:${HARNESS_TEST_SECRET}@127.0.0.1:9"\n'
            '[services.postgres]\ndsn = "postgresql://app@127.0.0.1:9/app"\n'
            'password = "${HARNESS_TEST_SECRET}"\n'
        ),
    )
    junit = pytester.path / "junit.xml"
    allure = pytester.path / "allure-results"
    result = pytester.runpytest_subprocess(
        "--target", str(profile), f"--junitxml={junit}", f"--alluredir={allure}", "-rA",
        "-o", "log_level=INFO",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=0, failed=1, skipped=1, errors=1)
    outputs = {"terminal": "\n".join(result.outlines + result.errlines), "junit": junit.read_text()}
    outputs.update({str(path): path.read_text(errors="replace") for path in allure.rglob("*")})
    assert len(outputs) > 3, "Allure wrote its results"
    leaked = [name for name, text in outputs.items() if SECRET in text]
    assert leaked == [], f"the secret is in {leaked}"
    assert "***" in outputs["terminal"], "it was there, masked"
