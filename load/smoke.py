"""The system description's smoke checks (the requirements' post-deployment smoke tests):
each one request and the answer it must get, run before any suite.

A check passes when the status is one it lists and, for a 2xx JSON answer, the body has
its `json_keys`, and the body contains each of its `contains` strings. Redirects are not
followed: a 302 to a login page is not the page asked for. Each failure is one line
naming the check, the request and what came back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import requests

from load.traffic import render_body, render_text
from system.description import Smoke

TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class SmokeResult:
    check: Smoke
    problem: str | None  # None: it passed
    status: int | None

    @property
    def passed(self) -> bool:
        return self.problem is None

    def line(self) -> str:
        where = f"{self.check.label} ({self.check.request})"
        return f"{where}: ok" if self.problem is None else f"{where}: {self.problem}"


def run_smoke(
    base_url: str, checks: Sequence[Smoke], environ: Mapping[str, str] | None = None
) -> list[SmokeResult]:
    """Every check against `base_url`, in order."""
    env = os.environ if environ is None else environ
    with requests.Session() as session:
        return [_one(session, base_url.rstrip("/"), check, env) for check in checks]


def _one(
    session: requests.Session, base_url: str, check: Smoke, env: Mapping[str, str]
) -> SmokeResult:
    headers = {key: render_text(value, {}, env) for key, value in check.headers.items()}
    body = None if check.body is None else render_body(check.body, {}, env)
    try:
        answer = session.request(
            check.request.method,
            base_url + check.request.path,
            json=body,
            headers=headers or None,
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        return SmokeResult(check, f"no answer ({type(error).__name__})", None)
    return SmokeResult(check, _problem(check, answer), answer.status_code)


def _problem(check: Smoke, answer: requests.Response) -> str | None:
    status = answer.status_code
    if status not in check.status:
        allowed = " or ".join(str(code) for code in check.status)
        where = f" to {answer.headers.get('Location')}" if 300 <= status < 400 else ""
        return f"answered {status}{where}, not {allowed}"
    if check.json_keys and 200 <= status < 300:
        try:
            document = json.loads(answer.content or b"")
        except ValueError:
            return f"answered {status} without a JSON body (expected keys {list(check.json_keys)})"
        missing = [
            key for key in check.json_keys if not isinstance(document, dict) or key not in document
        ]
        if missing:
            return f"answered {status} without {', '.join(missing)}"
    absent = [text for text in check.contains if text not in answer.text]
    if absent:
        return f"answered {status} without {', '.join(repr(text) for text in absent)} in its body"
    return None
