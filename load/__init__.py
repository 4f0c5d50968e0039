"""The load engine of the load suites (design section 1, issue 3).

The pytest side plans a run (`load.plan`), starts it in a child process and reads its
result (`load.runner`), judges it (`load.gates`), cross-checks it with the target's own
metrics (`load.crosscheck`) and draws its evidence (`load.evidence`). The child side
(`load.child`, `load.locust_user`) is the only code that imports Locust, which patches
the standard library for gevent; nothing imported from this package by pytest does.

Importing this package imports none of its modules.
"""
