"""Same shape for every service: a provider module, fixtures, a docs row and a test."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from fixtures.providers.registry import PROVIDERS
from plugins import services

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_service_has_provider_module_fixtures_docs_row_and_test(name: str) -> None:
    module = importlib.import_module(f"fixtures.providers.{name}")
    assert PROVIDERS[name].__module__ == module.__name__
    assert hasattr(services, name), f"no session fixture `{name}` in plugins/services.py"
    assert hasattr(services, f"{name}_factory"), f"no `{name}_factory` fixture"
    table = (ROOT / "docs" / "services.md").read_text()
    assert f"| {name} | `{name}`, `{name}_factory` |" in table, f"no docs/services.md row: {name}"
    integration = (ROOT / "tests" / "integration" / "test_services.py").read_text()
    assert f"({name}: " in integration, f"no test using the `{name}` fixture"


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_endpoint_repr_hides_secrets(name: str) -> None:
    section = {
        "postgres": {"dsn": "postgresql://app@db:5432/app", "password": "pw-secret"},
        "neo4j": {"uri": "bolt://g:7687", "password": "pw-secret"},
        "redis": {"url": "redis://c:6379/0", "password": "pw-secret"},
        "s3": {"endpoint_url": "https://s3", "bucket": "b", "secret_access_key": "pw-secret"},
    }.get(name, {"url": "http://h:1"})
    endpoint = PROVIDERS[name]().from_profile(section)
    assert "pw-secret" not in repr(endpoint)
    assert "pw-secret" not in endpoint.describe()


def test_the_readme_is_what_a_newcomer_reads_first() -> None:
    readme = (ROOT / "README.md").read_text().splitlines()
    assert len(readme) <= 250, "reference material goes to docs/"
    commands = [line for line in readme[:8] if line.startswith("make ")]
    assert [line.split()[1] for line in commands] == ["drill", "test"]
    assert "## Point it at your system" in readme
