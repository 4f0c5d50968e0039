"""A system's reliability criteria as data: the system description and its model.

The description (`scenarios/<system>/system.toml`) says *what must hold* for one system:
its health check, smoke checks, workloads and their bounds, write path, server metrics,
chaos experiments, alert rules and how each is induced, what a restore must hold, and
which criteria each kind of run requires. The target profile says *where*. One model
(`system.description`) validates a description, gives its JSON Schema and its defaults.
Nothing here imports pytest, Locust or a server's client.
"""
