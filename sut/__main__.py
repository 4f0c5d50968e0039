"""`python -m sut --host 127.0.0.1 --port N`: serve the reference target with uvicorn.

One worker, access log off, loopback only unless `--allow-non-loopback` is given.
Configuration comes from the environment (`sut.config`); a missing or malformed
variable ends the process with one line naming it and exit status 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from collections.abc import Sequence

import uvicorn

from sut.app import create_app
from sut.config import ConfigError, load_config

DESCRIPTION = "Serve the reference target (design section 4) with uvicorn."
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
    parser = argparse.ArgumentParser(prog="python -m sut", description=DESCRIPTION)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow binding an address other than loopback (the target has no authentication)",
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
        print(
            f"sut: refusing to bind {args.host}: not a loopback address "
            "(the target has no authentication); pass --allow-non-loopback to insist",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not 0 < args.port < 65536:
        print(f"sut: --port must be in 1..65535, got {args.port}", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = load_config(os.environ)
    except ConfigError as error:
        print(f"sut: {error}", file=sys.stderr)
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
