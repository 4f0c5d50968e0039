# The two commands at the top of README.md. Both install what they need first.
PYTHON := .venv/bin/python

.PHONY: bootstrap drill test lint bench

bootstrap:
	@scripts/bootstrap

drill: bootstrap
	$(PYTHON) -m drill

# Everything but the long `drill` tests: the harness's own tests and the suites' pr_gate runs.
test: bootstrap lint
	$(PYTHON) -m pytest -m "not drill" --alluredir=reports/allure-results --clean-alluredir --junitxml=reports/junit/test.xml

lint:
	.venv/bin/ruff check --no-cache .
	.venv/bin/ruff format --no-cache --check .
	.venv/bin/mypy .

bench: bootstrap
	$(PYTHON) -m bench.startup
	$(PYTHON) -m bench.loadgen
	$(PYTHON) -m bench.alert_latency
	$(PYTHON) -m bench.restore
