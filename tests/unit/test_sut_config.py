"""The reference target's configuration: every bad variable is named, no secret is echoed."""

from __future__ import annotations

import pytest

from sut.config import ConfigError, Faults, load_config

VALID = {
    "TARGET_PG_DSN": "postgresql://app:s3cret@127.0.0.1:5432/app",
    "TARGET_NEO4J_URI": "bolt://127.0.0.1:7687",
    "TARGET_NEO4J_USER": "neo4j",
    "TARGET_NEO4J_PASSWORD": "pw",
    "TARGET_REDIS_URL": "redis://127.0.0.1:6379/0",
}


def config_error(**changes: str) -> str:
    environ = {key: value for key, value in VALID.items() if key not in changes}
    environ.update({key: value for key, value in changes.items() if value != "<unset>"})
    with pytest.raises(ConfigError) as raised:
        load_config(environ)
    return str(raised.value)


def test_defaults() -> None:
    config = load_config(VALID)
    assert config.pg_timeout_seconds == config.neo4j_timeout_seconds == 1.0
    assert config.redis_timeout_seconds == 1.0
    assert config.neo4j_database == "neo4j"
    assert config.faults == Faults()
    assert not config.faults.active
    assert config.faults.describe() == {}


def test_secrets_stay_out_of_repr() -> None:
    text = repr(load_config(VALID))
    assert "s3cret" not in text
    assert "pw'" not in text


def test_every_missing_required_variable_is_named_in_one_line() -> None:
    message = config_error(TARGET_PG_DSN="<unset>", TARGET_REDIS_URL="  ")
    assert message == "missing required environment variable(s): TARGET_PG_DSN, TARGET_REDIS_URL"


def test_timeouts_are_read_per_dependency() -> None:
    config = load_config(
        {
            **VALID,
            "TARGET_PG_TIMEOUT_SECONDS": "0.25",
            "TARGET_NEO4J_TIMEOUT_SECONDS": "2",
            "TARGET_REDIS_TIMEOUT_SECONDS": "0.1",
        }
    )
    assert (config.pg_timeout_seconds, config.neo4j_timeout_seconds) == (0.25, 2.0)
    assert config.redis_timeout_seconds == 0.1


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf"])
def test_bad_timeout_is_named(value: str) -> None:
    assert "TARGET_NEO4J_TIMEOUT_SECONDS" in config_error(TARGET_NEO4J_TIMEOUT_SECONDS=value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TARGET_NEO4J_URI", "http://127.0.0.1:7474"),
        ("TARGET_NEO4J_URI", "bolt://"),
        ("TARGET_REDIS_URL", "memcached://127.0.0.1"),
        ("TARGET_REDIS_URL", "redis://127.0.0.1:notaport/0"),
    ],
)
def test_bad_urls_are_named(name: str, value: str) -> None:
    assert name in config_error(**{name: value})


def test_bad_dsn_is_named_without_echoing_it() -> None:
    message = config_error(TARGET_PG_DSN="host=h password=s3cret nonsense")
    assert "TARGET_PG_DSN" in message
    assert "s3cret" not in message


def test_faults_are_read_and_described() -> None:
    config = load_config(
        {
            **VALID,
            "TARGET_FAULT_GRAPH_DELAY_SECONDS": "2",
            "TARGET_FAULT_GRAPH_DELAY_SHARE": "0.1",
            "TARGET_FAULT_ERROR_SHARE": "0.05",
            "TARGET_FAULT_SEED": "7",
        }
    )
    assert config.faults.active
    assert config.faults.seed == 7
    assert config.faults.describe() == {
        "graph_delay_seconds": 2.0,
        "graph_delay_share": 0.1,
        "error_share": 0.05,
    }


def test_delay_without_share_applies_to_every_graph_query() -> None:
    faults = load_config({**VALID, "TARGET_FAULT_GRAPH_DELAY_SECONDS": "1"}).faults
    assert faults.graph_delay_share == 1.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TARGET_FAULT_ERROR_SHARE", "1.5"),
        ("TARGET_FAULT_ERROR_SHARE", "-0.1"),
        ("TARGET_FAULT_GRAPH_DELAY_SECONDS", "-1"),
        ("TARGET_FAULT_SEED", "x"),
        ("TARGET_CACHE_TTL_SECONDS", "0"),
        ("TARGET_PG_POOL_MAX", "many"),
    ],
)
def test_bad_optional_values_are_named(name: str, value: str) -> None:
    assert name in config_error(**{name: value})


def test_a_delay_share_without_a_delay_is_an_error_not_a_silent_no_op() -> None:
    message = config_error(TARGET_FAULT_GRAPH_DELAY_SHARE="0.5")
    assert "TARGET_FAULT_GRAPH_DELAY_SECONDS" in message
