"""The reference target (design section 4): entities in Postgres, links in Neo4j, a Redis cache.

`python -m sut --port N` serves it; `python -m sut.seed` loads a deterministic graph.
"""
