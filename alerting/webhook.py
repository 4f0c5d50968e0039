"""A webhook receiver on loopback that records every Alertmanager notification.

Alertmanager POSTs its webhook payload (version 4: `status`, `alerts[]` with `labels`,
`annotations`, `startsAt`, `endsAt`) to `url`; each is kept with the time it arrived, and
`wait_for` answers "did alert X arrive (firing / resolved), with these labels, by when".
"""

from __future__ import annotations

import errno
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from alerting.errors import AlertDidNotFireError, WebhookPortError
from fixtures.lifecycle.ports import LOOPBACK
from system.deadline import Deadline, WaitTimeoutError

POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Notification:
    received_monotonic: float
    received_wall: float
    payload: Mapping[str, Any]

    def alerts(self, name: str, status: str) -> list[Mapping[str, Any]]:
        return [
            alert
            for alert in self.payload.get("alerts", [])
            if alert.get("labels", {}).get("alertname") == name and alert.get("status") == status
        ]


class _Server(ThreadingHTTPServer):
    """A listen backlog for an Alertmanager flushing many groups at once: with the
    standard library's 5, the sixth simultaneous connection's SYN is dropped and retried
    a second later, a second that would be counted as Alertmanager's."""

    request_queue_size = 128


class WebhookReceiver:
    """`with WebhookReceiver() as receiver:` listens on 127.0.0.1 (a free port by default)."""

    def __init__(self, port: int = 0) -> None:
        self._notifications: list[Notification] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.record(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: notifications are recorded, not logged."""

        try:
            self._server = _Server((LOOPBACK, port), Handler)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise WebhookPortError(
                    f"webhook receiver: port {port} on {LOOPBACK} is taken; stop what listens "
                    f"there or give another port (0 picks a free one)"
                ) from None
            raise
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/alerts"

    def record(self, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except json.JSONDecodeError:
            payload = {"unparsed": body.decode(errors="replace")}
        with self._lock:
            self._notifications.append(Notification(time.monotonic(), time.time(), payload))

    def notifications(self) -> list[Notification]:
        with self._lock:
            return list(self._notifications)

    def payloads(self) -> list[Mapping[str, Any]]:
        return [notification.payload for notification in self.notifications()]

    def find(
        self,
        name: str,
        status: str = "firing",
        labels: Mapping[str, str] | None = None,
        since: float = 0.0,
    ) -> tuple[Notification, Mapping[str, Any]] | None:
        """The first notification since `since` (monotonic) carrying alert `name`."""
        for notification in self.notifications():
            if notification.received_monotonic < since:
                continue
            for alert in notification.alerts(name, status):
                alert_labels = alert.get("labels", {})
                if all(alert_labels.get(key) == value for key, value in (labels or {}).items()):
                    return notification, alert
        return None

    def wait_for(
        self,
        name: str,
        deadline_seconds: float,
        *,
        status: str = "firing",
        labels: Mapping[str, str] | None = None,
        since: float | None = None,
    ) -> tuple[Notification, Mapping[str, Any]]:
        """Wait until `name` arrives with `status` (in a notification received at or after
        `since`, monotonic; the deadline counts from `since`, or from now when not given);
        `AlertDidNotFireError` after the deadline."""
        deadline = Deadline(deadline_seconds, since=since)
        try:
            return deadline.wait(
                lambda: self.find(name, status, labels, since or 0.0),
                what=f"{name} {status} at the webhook",
                interval=POLL_SECONDS,
            )
        except WaitTimeoutError:
            seen = sorted(
                {
                    f"{alert.get('labels', {}).get('alertname')} ({alert.get('status')})"
                    for payload in self.payloads()
                    for alert in payload.get("alerts", [])
                }
            )
            raise AlertDidNotFireError(
                f"{name} did not {'fire' if status == 'firing' else 'resolve'} within "
                f"{deadline_seconds:.1f} s (labels {dict(labels or {})}); the webhook "
                f"received: {', '.join(seen) or 'nothing'}"
            ) from None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
