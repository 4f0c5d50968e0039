# The two commands at the top of README.md. Both install what they need first.
PYTHON := .venv/bin/python

.PHONY: bootstrap drill gate test lint bench report fresh
TOOLS_HOME := $(or $(RELIABILITY_TOOLS_HOME),$(shell [ "$$(id -u)" -eq 0 ] && echo /opt/reliability-harness || echo "$$HOME/.cache/reliability-harness"))

bootstrap:
	@scripts/bootstrap

# The drill's bootstrap also builds Sloth (its SLO rules' regeneration test): too slow for
# `make test`'s budget, so only here.
drill: export BOOTSTRAP_SLOTH = 1
drill: bootstrap
	$(PYTHON) -m drill

# Everything but the long `drill` tests: the unit tests, the `parallel` ones (bad input
# through subprocesses: nothing timed, nothing started) and the `quiet` ones (waiting on a
# Prometheus, an Alertmanager or a Pushgateway of their own) on three pytest-xdist workers,
# work-stealing (a quiet test waits, a unit test uses the core it leaves); then the other
# integration tests in one process (they time the engines and count the machine's processes
# and namespaces); then the suites on two workers (measurements take exclusive turns,
# plugins/turns.py). All run, and the target fails if any failed.
# The containers backend's tests run on images built here (no registry is reachable here);
# RELIABILITY_IMAGES=official make test pulls the pinned ones instead.
test: bootstrap lint
	status=0; \
	$(PYTHON) -m pytest tests/unit tests/integration -m "not drill and (parallel or quiet or not integration)" -n 3 --dist worksteal --alluredir=reports/allure-results --clean-alluredir --junitxml=reports/junit/unit.xml || status=1; \
	RELIABILITY_IMAGES=$${RELIABILITY_IMAGES:-local} $(PYTHON) -m pytest tests -m "not drill and integration and not parallel and not quiet" --alluredir=reports/allure-results --junitxml=reports/junit/test.xml --durations=25 || status=1; \
	$(PYTHON) -m pytest suites -m "not drill" -n 2 --dist loadfile --alluredir=reports/allure-results --junitxml=reports/junit/suites.xml --durations=10 --criteria-file=reports/criteria.jsonl || status=1; \
	exit $$status

# The PR gate: the suites' pr_gate tests on the local default (or RELIABILITY_TARGET),
# with the verdict per criterion and the Allure report (`python -m drill --quick`).
gate: bootstrap
	$(PYTHON) -m drill --quick

# mypy's cache lives beside the tools, shared by every clone: it rechecks what changed (by
# content), so a clean clone's lint takes seconds, not half a minute.
lint:
	.venv/bin/ruff check --no-cache .
	.venv/bin/ruff format --no-cache --check .
	.venv/bin/mypy --cache-dir "$(TOOLS_HOME)/mypy-cache" .
	$(PYTHON) -m system.schema --check
	$(TOOLS_HOME)/bin/actionlint .github/workflows/*.yml

# Two commands on a fresh machine (docs/fresh-machine.md): the PR gate job's steps, bootstrap
# included, in a minimal Debian 12 and a Debian 13 made here by debootstrap (as root, about 10
# minutes each here; not part of `make test`). One release: FRESH_SUITES=bookworm make fresh.
FRESH_SUITES ?= bookworm trixie
fresh: bootstrap
	$(PYTHON) -m pytest tests/fresh -m fresh -s -k "$(shell echo $(FRESH_SUITES) | sed "s/ / or /g")" --junitxml=reports/junit/fresh.xml

# The Allure HTML report (and a single-file copy) of the last run's results.
report: bootstrap
	$(PYTHON) -m drill.report

bench: bootstrap
	$(PYTHON) -m bench.startup
	$(PYTHON) -m bench.loadgen
	$(PYTHON) -m bench.alert_latency
	$(PYTHON) -m bench.restore
	$(PYTHON) -m bench.neo4j_gc
