# The two commands at the top of README.md. Both install what they need first.
PYTHON := .venv/bin/python

.PHONY: bootstrap drill test lint bench report
TOOLS_HOME := $(or $(RELIABILITY_TOOLS_HOME),$(shell [ "$$(id -u)" -eq 0 ] && echo /opt/reliability-harness || echo "$$HOME/.cache/reliability-harness"))

bootstrap:
	@scripts/bootstrap

drill: bootstrap
	$(PYTHON) -m drill

# Everything but the long `drill` tests: the harness's own tests and the suites' pr_gate runs.
# The containers backend's tests run on images built here (no registry is reachable here);
# RELIABILITY_IMAGES=official make test pulls the pinned ones instead.
test: bootstrap lint
	RELIABILITY_IMAGES=$${RELIABILITY_IMAGES:-local} $(PYTHON) -m pytest -m "not drill" --alluredir=reports/allure-results --clean-alluredir --junitxml=reports/junit/test.xml --criteria-file=reports/criteria.jsonl

lint:
	.venv/bin/ruff check --no-cache .
	.venv/bin/ruff format --no-cache --check .
	.venv/bin/mypy .
	$(TOOLS_HOME)/bin/actionlint .github/workflows/*.yml

# The Allure HTML report (and a single-file copy) of the last run's results.
report: bootstrap
	$(PYTHON) -m drill.report

bench: bootstrap
	$(PYTHON) -m bench.startup
	$(PYTHON) -m bench.loadgen
	$(PYTHON) -m bench.alert_latency
	$(PYTHON) -m bench.restore
