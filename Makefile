# The two commands at the top of README.md. Both install what they need first.
PYTHON := .venv/bin/python

.PHONY: bootstrap drill test lint bench

bootstrap:
	@scripts/bootstrap

drill: bootstrap
	$(PYTHON) -m drill

# Everything but the long `drill` tests: the harness's own tests and the suites' pr_gate runs.
# The containers backend's tests run on images built here (no registry is reachable here);
# RELIABILITY_IMAGES=official make test pulls the pinned ones instead.
test: bootstrap lint
	RELIABILITY_IMAGES=$${RELIABILITY_IMAGES:-local} $(PYTHON) -m pytest -m "not drill" --alluredir=reports/allure-results --clean-alluredir --junitxml=reports/junit/test.xml

lint:
	.venv/bin/ruff check --no-cache .
	.venv/bin/ruff format --no-cache --check .
	.venv/bin/mypy .

bench: bootstrap
	$(PYTHON) -m bench.startup
	$(PYTHON) -m bench.loadgen
	$(PYTHON) -m bench.alert_latency
	$(PYTHON) -m bench.restore
