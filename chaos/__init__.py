"""The chaos engine (design section 1): faults that really happen, and hypotheses about them.

Faults (`chaos.network`, `chaos.partition`, `chaos.process`, `chaos.disk`, `chaos.stress`,
`chaos.clock`, `chaos.s3`) are context managers that remove what they injected on every
way out, and register an undo with the reaper first, so a killed harness leaves nothing
behind either. An experiment (`chaos.experiments`) is a Chaos Toolkit file of a system
description's `[chaos] experiments` folder: a steady state, a fault injected for a bounded
time while open-model load runs (`load`), what the target claims during it, the recovery
and its time, and rollbacks that always run. `chaos.activities` holds the Chaos Toolkit
providers; `fixtures.write_ledger` (shared with `dr.failover`) is the check that no
acknowledged write was lost. No pytest in here.

Importing this package imports none of its modules.
"""
