"""`python -m examples.quotes_api --host 127.0.0.1 --port N`: serve the quotes API.

One uvicorn worker, access log off, loopback only (the API has no authentication).
Settings come from the environment (`examples.quotes_api.config`); a missing or
malformed variable ends the process with one line naming it and exit status 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from collections.abc import Sequence

import uvicorn

from examples.quotes_api.app import create_app
from examples.quotes_api.config import ConfigError, load_config

PROG = "python -m examples.quotes_api"
EXIT_USAGE = 2
EXIT_STARTUP_FAILED = 3
GRACEFUL_SHUTDOWN_SECONDS = 5


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description="Serve the quotes API with uvicorn.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    parser.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="bind another address (a test network namespace of the harness)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug"),
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not is_loopback(args.host) and not args.allow_non_loopback:
        print(f"quotes_api: refusing to bind {args.host}: not a loopback address", file=sys.stderr)
        return EXIT_USAGE
    if not 0 < args.port < 65536:
        print(f"quotes_api: --port must be in 1..65535, got {args.port}", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = load_config(os.environ)
    except ConfigError as error:
        print(f"quotes_api: {error}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host=args.host,
            port=args.port,
            workers=1,
            access_log=False,
            log_level=args.log_level,
            lifespan="on",
            loop="asyncio",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    )
    server.run()
    return 0 if server.started else EXIT_STARTUP_FAILED


if __name__ == "__main__":
    sys.exit(main())
