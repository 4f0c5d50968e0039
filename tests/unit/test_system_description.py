"""The system description: one model validates it; a bad one is one line (file, key, fix)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fixtures.profile import SERVICE_KEYS
from system.description import Description
from system.loader import DescriptionError, check_secrets, description_path, load_system
from system.profile_model import Profile
from system.schema import PROFILE_SCHEMA, PUBLISHED, render, render_profile
from tests.reference import DESCRIPTION, QUOTES, REFERENCE

GOOD = """\
version = 1
name = "shop"
[values.item]
ids = "1-100"
[workloads.browse]
rate = "60/min"
duration = "20m"
gates = ["drill"]
requests = [{ request = "GET /items/{item}" }]
bounds = { p95 = "900ms", throughput = "baseline" }
"""


def write(tmp_path: Path, text: str, name: str = "system.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problem(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(DescriptionError) as raised:
        load_system(str(path))
    message = str(raised.value)
    assert message.startswith(f"system description {path}: "), message
    assert "\n" not in message
    return message.removeprefix(f"system description {path}: ")


def test_a_requirement_style_workload_is_data(tmp_path: Path) -> None:
    browse = load_system(str(write(tmp_path, GOOD))).description.workloads["browse"]
    assert (browse.rate, browse.duration, browse.gates) == (1.0, 1200.0, ("drill",))
    assert browse.bounds.p95 == 0.9
    assert browse.bounds.throughput == "baseline"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('rate = "60/min"', 'rate = "0/s"'), "key 'workloads.browse.rate' must be a rate > 0"),
        (
            ('rate = "60/min"', "rate = -1"),
            "key 'workloads.browse.rate' must be a rate with its unit",
        ),
        (('rate = "60/min"', 'rate = "60"'), "e.g. '60/min' or '100/s'"),
        (
            ('duration = "20m"', 'duration = "20 minutes"'),
            "key 'workloads.browse.duration' must be a duration with its unit",
        ),
        (('p95 = "900ms"', 'p97 = "900ms"'), "key 'workloads.browse.bounds.p97' is unknown"),
        (('ids = "1-100"', "uuid = true"), "key 'values.item.uuid' is unknown (expected one of:"),
        (('ids = "1-100"', 'ids = "100-1"'), "must be ids like '1-10000'"),
        (("{item}", "{sku}"), "names {sku}, which is not a value of [values]"),
        (('gates = ["drill"]', 'gates = ["nightly"]'), "key 'workloads.browse.gates[0]'"),
        (('request = "GET /items', 'request = "FETCH /items'), "must be a request line"),
        (("version = 1", "version = 2"), "key 'version' must be 1 (got 2)"),
        (('name = "shop"', 'name = "my shop"'), "key 'name' must be a name of letters"),
        (('requests = [{ request = "GET /items/{item}" }]', ""), "needs exactly one of"),
        (("[workloads.browse]", "[workloads.browse]\nratee = 3"), "'workloads.browse.ratee'"),
    ],
)
def test_a_bad_description_is_one_line_naming_key_and_expectation(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in GOOD
    assert expected in problem(tmp_path, GOOD.replace(old, new, 1))


def test_a_missing_locust_file_or_user_class(tmp_path: Path) -> None:
    locust = GOOD.replace(
        'requests = [{ request = "GET /items/{item}" }]', 'locustfile = "shop.py"'
    )
    assert "names " in problem(tmp_path, locust)
    assert "which is not a file" in problem(tmp_path, locust)
    (tmp_path / "shop.py").write_text("class Shopper:\n    pass\n")
    assert "defines no Locust user class" in problem(tmp_path, locust)
    (tmp_path / "shop.py").write_text(
        "from locust import HttpUser\nclass Shopper(HttpUser):\n    pass\n"
    )
    assert load_system(str(tmp_path / "system.toml")).description.workloads["browse"].locustfile


def test_not_toml_not_utf8_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DescriptionError, match="is not valid TOML"):
        load_system(str(write(tmp_path, "version = ")))
    bad = tmp_path / "latin.toml"
    bad.write_bytes(b'name = "caf\xe9"')
    with pytest.raises(DescriptionError, match="is not UTF-8"):
        load_system(str(bad))
    with pytest.raises(DescriptionError, match="does not exist: give a name under scenarios/"):
        load_system("no-such-system")
    with pytest.raises(DescriptionError, match="is empty"):
        load_system(" ")


def test_a_name_a_folder_or_a_file() -> None:
    assert description_path("quotes") == QUOTES.source
    assert description_path(str(QUOTES.folder)) == QUOTES.source
    assert description_path(str(QUOTES.source)) == QUOTES.source


def test_overrides_shorten_a_workload_and_are_checked_like_the_file() -> None:
    shortened = load_system("quotes", ["workloads.quotes_generate.duration=30s"])
    assert shortened.description.workloads["quotes_generate"].duration == 30.0
    assert shortened.overrides == ("workloads.quotes_generate.duration=30s",)
    with pytest.raises(DescriptionError, match=r"has no key 'workloads\.quotes_genrate'"):
        load_system("quotes", ["workloads.quotes_genrate.duration=30s"])
    with pytest.raises(DescriptionError, match="must be a duration"):
        load_system("quotes", ["workloads.quotes_generate.duration=soon"])
    with pytest.raises(DescriptionError, match="expected KEY=VALUE"):
        load_system("quotes", ["duration"])


def test_the_shipped_descriptions_are_valid_and_differ_in_what_is_specific() -> None:
    quotes = QUOTES.description
    assert REFERENCE.name == "intelgraph"
    assert DESCRIPTION.health.dependencies == "checks"
    assert quotes.health.dependencies is None, "a plain-text health check"
    assert quotes.health.path != DESCRIPTION.health.path
    assert quotes.metrics is not None
    assert DESCRIPTION.metrics is not None
    assert quotes.metrics.http_histogram != DESCRIPTION.metrics.http_histogram
    assert quotes.local is not None
    assert quotes.local.services == ("postgres",)
    assert quotes.workloads["bulk_import"].locustfile is not None, "a plain Locust file"
    assert quotes.dr.schema_version is not None


def test_a_workload_like_another_sends_what_it_sends() -> None:
    sustained = DESCRIPTION.workloads["mixed_sustained"]
    assert sustained.requests == DESCRIPTION.workloads["mixed"].requests
    assert (sustained.rate, sustained.duration) == (50.0, 300.0)


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    text = GOOD.replace(
        "[workloads.browse]",
        '[workloads.browse]\nheaders = { Authorization = "Bearer ${SHOP_TOKEN}" }',
    )
    system = load_system(str(write(tmp_path, text)))
    with pytest.raises(DescriptionError, match="needs environment variable SHOP_TOKEN"):
        check_secrets(system, {})
    assert check_secrets(system, {"SHOP_TOKEN": "s3cret"}) == frozenset({"s3cret"})


def test_the_published_schema_is_the_models() -> None:
    assert PUBLISHED.read_text() == render(), "run: python -m system.schema"
    schema = json.loads(render())
    assert schema["properties"]["version"]["const"] == 1
    assert "workloads" in schema["properties"]
    assert Description.model_json_schema()["title"] == "Description"


def test_the_profile_is_validated_by_the_model_its_schema_comes_from() -> None:
    assert PROFILE_SCHEMA.read_text() == render_profile(), "run: python -m system.schema"
    services = Profile.model_fields["services"].annotation
    assert services is not None
    for name, (required, optional) in SERVICE_KEYS.items():
        model = services.model_fields[name].annotation
        fields = next(arg for arg in model.__args__ if arg is not type(None)).model_fields
        assert set(fields) == set(required | optional), name
        assert {key for key, field in fields.items() if field.is_required()} == set(required)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('kind = "partition"', 'kind = "flood"'),
            "key 'alerts.induce.HighErrorRate.profile_fault.kind' must be 'partition', 'latency' "
            "or 'kill'",
        ),
        (
            ('kind = "partition"', 'kind = "latency"'),
            "key 'alerts.induce.HighErrorRate.profile_fault' needs `latency` exactly when",
        ),
        (
            (
                'dependency = "neo4j", kind = "partition"',
                'dependency = "mysql", kind = "partition"',
            ),
            "alerts.induce.HighErrorRate.profile_fault.dependency names 'mysql', which is not "
            "one of [chaos] dependencies (known: postgres, neo4j, redis)",
        ),
        (
            ('traffic = ["GET /graph/{few}/neighbors?depth=1"], detection', "detection"),
            "key 'alerts.induce.HighErrorRate.profile_fault' kind = \"partition\" needs "
            "`dependency` and `traffic`",
        ),
        (
            ('scale = 120\nfault = "errors"', 'scale = 120\nfault = "boom"'),
            "alerts.slo.burst.fault names 'boom', which is not a fault of [local.faults]",
        ),
        (("scale = 120", "scale = 0.5"), "key 'alerts.slo.burst.scale' must be"),
        (
            ('traffic = ["GET /entities/{few}"]\nclients = 2', 'traffic = ["GET /x/{nope}"]'),
            "alerts.slo.burst.traffic names {nope}, which is not a value of [values]",
        ),
    ],
)
def test_bad_alert_inducements_are_one_line(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    folder = tmp_path / "intelgraph"
    shutil.copytree(Path(REFERENCE.source).parent, folder)
    text = (folder / "system.toml").read_text()
    old, new = change
    assert old in text, old
    path = folder / "system.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(DescriptionError) as raised:
        load_system(str(path))
    message = str(raised.value)
    assert "\n" not in message
    assert expected in message, message
