"""`bench/neo4j_gc.py` reads G1's log as the harness's Neo4j writes it (`-Xlog:gc`,
decorated with uptime and level): stop-the-world pauses only, with the heap after each."""

from __future__ import annotations

from bench.neo4j_gc import Pause, pauses

LOG = """\
[0.012s][info] Using G1
[3.201s][info] GC(0) Pause Young (Normal) (G1 Evacuation Pause) 25M->4M(512M) 3.112ms
[40.5s][info] GC(1) Pause Young (Concurrent Start) (G1 Humongous Allocation) 120M->51M(512M) 6.800ms
[40.6s][info] GC(2) Concurrent Mark Cycle 45.001ms
[40.7s][info] GC(2) Pause Remark 60M->58M(512M) 1.250ms
[40.8s][info] GC(2) Pause Cleanup 58M->58M(512M) 0.040ms
[90.0s][info] GC(3) Pause Full (System.gc()) 200M->30M(512M) 120.500ms
"""


def test_only_pauses_are_read_with_the_heap_after_each() -> None:
    found = pauses(LOG.splitlines())
    assert [(p.kind, p.ms, p.after_mb) for p in found] == [
        ("Pause Young", 3.112, 4),
        ("Pause Young", 6.8, 51),
        ("Pause Remark", 1.25, 58),
        ("Pause Cleanup", 0.04, 58),
        ("Pause Full", 120.5, 30),
    ]
    assert found[0] == Pause(3.201, "Pause Young", 3.112, 4, 512)
