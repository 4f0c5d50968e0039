"""Example systems under test, each unlike the reference target, for the harness to point at."""
