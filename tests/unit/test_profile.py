"""Target profiles: the contract of design section 5, and every way a profile can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.errors import ProfileError
from fixtures.profile import Slo, load_profile
from fixtures.providers.postgres import PostgresProvider, standby_from_profile
from fixtures.providers.registry import check_profile_services

STAGING = """
[target]
name = "staging"
destructive = false

[slo]
p95_seconds = 1.2
rpo_seconds = 120

[services.api]
url = "https://api.staging.example"
[services.postgres]
dsn = "postgresql://app@db.staging.example:5432/app"
password = "${PG_PASSWORD}"
[services.toxiproxy]
url = "http://toxiproxy.staging.example:8474"
proxies = { postgres = "pg-main" }
[services.s3]
endpoint_url = "https://s3.example"
bucket = "wal-archive"
secret_access_key = "${S3_SECRET}"
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "profile.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_PASSWORD", "pg-s3cret")
    monkeypatch.setenv("S3_SECRET", "s3-s3cret")


def test_local_is_built_in_and_allows_destructive_tests() -> None:
    profile = load_profile("local")
    assert profile.is_local
    assert profile.destructive
    assert profile.slo == Slo(p95_seconds=1.5, error_rate=0.01, rpo_seconds=300, rto_seconds=3600)


@pytest.mark.usefixtures("secrets")
def test_file_profile_reads_every_section(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, STAGING))
    assert profile.name == "staging"
    assert not profile.is_local
    assert not profile.destructive
    assert profile.slo.p95_seconds == 1.2
    assert profile.slo.rpo_seconds == 120
    assert profile.slo.error_rate == 0.01  # defaults survive for keys not given
    assert profile.services["postgres"]["password"] == "pg-s3cret"
    assert profile.services["toxiproxy"]["proxies"]["postgres"] == "pg-main"
    assert "redis" not in profile.services


def test_remote_load_is_off_unless_the_profile_opts_in(tmp_path: Path) -> None:
    assert not load_profile(write(tmp_path, "[target]\nname = 'x'\n")).allow_remote_load
    opted_in = load_profile(write(tmp_path, "[target]\nname = 'x'\nallow_remote_load = true\n"))
    assert opted_in.allow_remote_load


def test_load_runs_on_this_machine_unless_the_profile_names_workers(tmp_path: Path) -> None:
    assert load_profile(write(tmp_path, "[target]\nname = 'x'\n")).load.workers is None
    text = "[target]\nname = 'x'\n[load]\nworkers = 2\nmaster_bind = '0.0.0.0:5557'\n"
    spread = load_profile(write(tmp_path, text)).load
    assert (spread.workers, spread.master_bind, spread.start_workers) == (2, "0.0.0.0:5557", True)
    assert spread.describe() == "a Locust master on 0.0.0.0:5557 and 2 workers started here"


@pytest.mark.usefixtures("secrets")
def test_hooks_are_argvs_with_secrets_substituted_both_or_neither(tmp_path: Path) -> None:
    assert load_profile(write(tmp_path, "[target]\nname = 'x'\n")).hooks == {}
    text = (
        "[target]\nname = 'x'\n[hooks]\n"
        "stop_api = ['kubectl', '--token=${S3_SECRET}', 'scale', 'deploy/api', '--replicas=0']\n"
        "start_api = ['kubectl', 'scale', 'deploy/api', '--replicas=1']\n"
    )
    profile = load_profile(write(tmp_path, text))
    assert profile.hooks["stop_api"][1] == "--token=s3-s3cret"
    assert profile.hooks["start_api"] == ("kubectl", "scale", "deploy/api", "--replicas=1")
    assert "s3-s3cret" in profile.secrets


def test_the_failover_hooks_are_read_with_their_optional_steps(tmp_path: Path) -> None:
    text = (
        "[target]\nname = 'x'\n[hooks]\n"
        "fail_primary = ['patronictl', 'restart', '--force', 'pg', 'pg-0']\n"
        "restore_primary = ['patronictl', 'reinit', '--force', 'pg', 'pg-0']\n"
        "repoint = ['kubectl', 'rollout', 'restart', 'deploy/api']\n"
    )
    hooks = load_profile(write(tmp_path, text)).hooks
    assert set(hooks) == {"fail_primary", "restore_primary", "repoint"}  # it promotes itself
    assert hooks["repoint"][-1] == "deploy/api"


def test_a_standby_dsn_is_read_with_the_primarys_password(tmp_path: Path) -> None:
    text = (
        "[target]\nname = 'x'\n[services.postgres]\n"
        "dsn = 'postgresql://app@db-rw:5432/app'\npassword = 'pw'\n"
        "standby_dsn = 'postgresql://app@db-ro:6432/app'\n"
    )
    section = load_profile(write(tmp_path, text)).services["postgres"]
    standby = standby_from_profile(section)
    assert standby is not None
    assert (standby.host, standby.port, standby.user, standby.password) == (
        "db-ro",
        6432,
        "app",
        "pw",
    )
    assert PostgresProvider().from_profile(section).host == "db-rw"
    assert standby_from_profile({"dsn": "postgresql://app@db-rw/app"}) is None


def test_a_bad_standby_dsn_is_one_line_naming_its_key(tmp_path: Path) -> None:
    text = (
        "[target]\nname = 'x'\n[services.postgres]\n"
        "dsn = 'postgresql://app@db-rw:5432/app'\nstandby_dsn = 'host=db-ro port=x5432'\n"
    )
    profile = load_profile(write(tmp_path, text))
    with pytest.raises(ProfileError) as raised:
        check_profile_services(profile)
    assert "[services.postgres] standby_dsn names port 'x5432': give a number" in str(raised.value)


@pytest.mark.parametrize(
    ("hooks", "expected"),
    [
        ("stop_api = ['true']", "key 'hooks.start_api' is required with hooks.stop_api: both"),
        ("stop_api = 'systemctl stop api'\nstart_api = ['true']", "'hooks.stop_api' must be"),
        ("stop_api = []\nstart_api = ['true']", "'hooks.stop_api'"),
        ("stop_api = ['']\nstart_api = ['true']", "must be a command as a list of strings"),
        ("kill_api = ['true']", "key 'hooks.kill_api' is unknown"),
        (
            "fail_primary = ['true']",
            "key 'hooks.restore_primary' is required with hooks.fail_primary: both or neither",
        ),
        (
            "restore_primary = ['true']\nstop_api = ['true']\nstart_api = ['true']",
            "key 'hooks.fail_primary' is required with hooks.restore_primary",
        ),
        (
            "repoint = ['true']",
            "key 'hooks.repoint' is a failover step: it needs hooks.fail_primary and "
            "hooks.restore_primary",
        ),
    ],
    ids=[
        "one-of-two",
        "a-shell-string",
        "empty",
        "empty-word",
        "unknown",
        "a-failure-without-its-restore",
        "a-restore-without-its-failure",
        "a-step-alone",
    ],
)
def test_a_bad_hook_is_one_line_naming_its_key(tmp_path: Path, hooks: str, expected: str) -> None:
    with pytest.raises(ProfileError) as raised:
        load_profile(write(tmp_path, f"[target]\nname = 'x'\n[hooks]\n{hooks}\n"))
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.usefixtures("secrets")
def test_substituted_secrets_are_remembered_for_redaction(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, STAGING))
    assert profile.secrets == {"pg-s3cret", "s3-s3cret"}
    assert "pg-s3cret" not in repr(profile.slo)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[target\nname = 'x'", "is not valid TOML"),
        ("[slo]\np95_seconds = 1", "key 'target' is required"),
        ("[target]\ndestructive = true", "key 'target.name' is required"),
        ("[target]\nname = 'x'\ndestructive = 'yes'", "key 'target.destructive' must be a bool"),
        ("[target]\nname = 'x'\ncolour = 'red'", "key 'target.colour' is unknown"),
        (
            "[target]\nname = 'x'\nallow_remote_load = 1",
            "'target.allow_remote_load' must be a bool",
        ),
        ("[target]\nname = 'x'\n[slo]\np95_secs = 1.5", "key 'slo.p95_secs' is unknown"),
        (
            "[target]\nname = 'x'\n[slo]\np95_seconds = -1",
            "key 'slo.p95_seconds' must be a positive",
        ),
        ("[target]\nname = 'x'\n[slo]\np95_seconds = 'fast'", "must be a positive number"),
        ("[target]\nname = 'x'\n[services.mysql]\nurl = 'x'", "key 'services.mysql' is unknown"),
        (
            "[target]\nname = 'x'\n[services.redis]\nuri = 'x'",
            "key 'services.redis.uri' is unknown",
        ),
        (
            "[target]\nname = 'x'\n[services.s3]\nendpoint_url = 'x'",
            "'services.s3.bucket' is required",
        ),
        ("[target]\nname = 'x'\n[services.redis]\nurl = 6379", "must be a string, got int"),
        ("services = 3\n[target]\nname = 'x'", "key 'services' must be a table"),
        ("[target]\nname = 'x'\n[load]\nworkers = 0", "key 'load.workers' must be"),
        ("[target]\nname = 'x'\n[load]\nworkers = 65", "key 'load.workers' must be"),
        ("[target]\nname = 'x'\n[load]\nworkers = '2'", "key 'load.workers' must be"),
        ("[target]\nname = 'x'\n[load]\nworker = 2", "key 'load.worker' is unknown"),
        (
            "[target]\nname = 'x'\n[load]\nworkers = 2\nmaster_bind = '5557'",
            "key 'load.master_bind' must be HOST:PORT, got '5557'",
        ),
        (
            "[target]\nname = 'x'\n[load]\nmaster_bind = '127.0.0.1:5557'",
            "key 'load.master_bind' needs load.workers",
        ),
        (
            "[target]\nname = 'x'\n[load]\nworkers = 2\nstart_workers = false",
            "key 'load.start_workers' = false needs load.master_bind",
        ),
    ],
)
def test_malformed_profiles_name_file_key_and_expectation(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as raised:
        load_profile(path)
    message = str(raised.value)
    assert path in message
    assert expected in message
    assert "\n" not in message.strip()


def test_missing_secret_names_the_variable_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_PASSWORD", raising=False)
    path = write(
        tmp_path,
        "[target]\nname='x'\n[services.redis]\nurl='redis://h:1/0'\npassword='${REDIS_PASSWORD}'\n",
    )
    with pytest.raises(ProfileError, match=r"services\.redis\.password.*REDIS_PASSWORD"):
        load_profile(path)


def test_empty_secret_is_a_value_not_a_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMPTY_PASSWORD", "")
    path = write(
        tmp_path,
        "[target]\nname='x'\n[services.redis]\nurl='redis://h:1/0'\npassword='${EMPTY_PASSWORD}'\n",
    )
    assert load_profile(path).services["redis"]["password"] == ""


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"does not exist.*--target local"):
        load_profile(str(tmp_path / "nope.toml"))
