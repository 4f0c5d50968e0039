"""Faults of the backup store: an S3 endpoint that throttles, or answers 5xx in bursts.

The archive's traffic goes through two hops the harness controls:

    barman-cloud -> Toxiproxy proxy (latency, bandwidth: throttling) -> S3FaultProxy -> S3

`S3FaultProxy` is a small HTTP reverse proxy on loopback that forwards every request to
the real endpoint (moto locally) and, during a burst (`errors(share)`), answers that
share of them itself with S3's own throttling answer, `503 SlowDown`, as a real S3 does
under load. Toxiproxy cannot: it works below HTTP. Requests are forwarded whole (an
archive segment is 16 MB at most); the proxy is bounded to loopback.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from chaos.errors import FaultSpecError
from fixtures.lifecycle.ports import LOOPBACK

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate. (injected by the reliability harness)"
    b"</Message></Error>"
)
HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection"})
UPSTREAM_TIMEOUT_SECONDS = 60.0


class S3FaultProxy:
    """Forward to `upstream`; during `errors(share)` answer that share with 503 SlowDown."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise FaultSpecError(f"S3 fault proxy: upstream {upstream!r} must be http://host:port")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.share = 0.0
        self.injected = 0
        self.forwarded = 0
        self._lock = threading.Lock()
        self._random = random.Random()  # noqa: S311 - fault sampling, not security
        self._server = ThreadingHTTPServer((LOOPBACK, 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> S3FaultProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> S3FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def errors(self, share: float) -> Iterator[None]:
        """That share of requests answered 503 SlowDown for the block."""
        if not 0 < share <= 1:
            raise FaultSpecError(f"S3 error burst: share={share!r} must be in (0, 1]")
        self.share = share
        try:
            yield
        finally:
            self.share = 0.0

    def _fail_now(self) -> bool:
        with self._lock:
            if self.share > 0 and self._random.random() < self.share:
                self.injected += 1
                return True
            self.forwarded += 1
            return False

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass  # quiet: the journal says what happened

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy._fail_now():
                    self._answer(503, {"Content-Type": "application/xml"}, SLOW_DOWN)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                upstream = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=UPSTREAM_TIMEOUT_SECONDS
                )
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    kept = {k: v for k, v in answer.getheaders() if k.lower() not in HOP_HEADERS}
                    self._answer(answer.status, kept, data)
                finally:
                    upstream.close()

            def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                head = self.command == "HEAD"  # its Content-Length is the object's
                for key, value in headers.items():
                    if head or key.lower() != "content-length":
                        self.send_header(key, value)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay  # noqa: N815

        return Handler
