#!/usr/bin/env python3
"""Records the Neo4j class-data archive (fixtures/providers/neo4j.py, record_class_archive):
starts a native Neo4j once, runs a few queries, stops it. Called by scripts/bootstrap."""

import sys

from fixtures.backend import Backend
from fixtures.errors import HarnessError
from fixtures.launcher import ServiceLauncher
from fixtures.profile import local_profile
from fixtures.providers.neo4j import record_class_archive


def main() -> int:
    launcher = ServiceLauncher(Backend.NATIVE, local_profile())
    try:
        archive = record_class_archive(launcher)
    except HarnessError as error:
        print(f"bootstrap: Neo4j class-data archive not recorded: {error}", file=sys.stderr)
        return 1
    finally:
        launcher.close()
    print(f"bootstrap: Neo4j class-data archive: {archive} ({archive.stat().st_size >> 20} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
