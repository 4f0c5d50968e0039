"""The reliability drill: the main job, run by `make drill` (README)."""
