"""A Postgres the DR code works on from the host, as a container spec (no Docker needed):
the image with the backup tools, the host's loopback, the harness's files at the same
paths, the service user's ids and a log file where a native server's would be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.containers import PORT_PLACEHOLDER, WORKDIR_PLACEHOLDER, build_testcontainer
from fixtures.images import LOCAL_TAGS, ImageSet, build_command, image_for
from fixtures.providers.postgres import DR_IMAGE, IMAGE, PostgresProvider
from fixtures.tools import service_ids

ARCHIVING = {"archive_mode": "on", "archive_command": "'/srv/dr-1/tool/archive-wal %p'"}


def _settings_of(command: tuple[str, ...]) -> dict[str, str]:
    pairs = [command[index + 1] for index, part in enumerate(command) if part == "-c"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_a_plain_postgres_is_the_pinned_image_with_its_own_files() -> None:
    spec = PostgresProvider().container()
    assert spec.image == IMAGE
    assert not spec.shares_files
    assert not spec.host_network
    assert spec.log_file is None


def test_an_archiving_postgres_runs_the_dr_image_on_the_harness_files() -> None:
    spec = PostgresProvider(settings=ARCHIVING).container()
    assert spec.image == DR_IMAGE
    assert spec.host_network, "archive_command reaches the S3 endpoint on the host's loopback"
    assert spec.shares_files
    uid, gid = service_ids()
    assert spec.env["HARNESS_UID"] == str(uid)
    assert spec.env["HARNESS_GID"] == str(gid)
    settings = _settings_of(spec.command)
    assert settings["archive_command"] == "/srv/dr-1/tool/archive-wal %p"
    assert settings["listen_addresses"] == "127.0.0.1"
    assert settings["port"] == PORT_PLACEHOLDER
    assert spec.env["PGDATA"] == f"{WORKDIR_PLACEHOLDER}/data"


def test_the_workdir_and_port_are_filled_and_the_root_is_mounted_at_the_same_path(
    tmp_path: Path,
) -> None:
    workdir = tmp_path / "postgres-3"
    spec = PostgresProvider(settings=ARCHIVING).container()
    filled = spec.on_host_port(25432).in_workdir(tmp_path, workdir)
    assert filled.mounts == {str(tmp_path): str(tmp_path)}
    assert filled.env["PGDATA"] == f"{workdir}/data"
    assert filled.log_file == f"{workdir}/postgres.log"
    assert filled.env["HARNESS_LOG"] == filled.log_file
    settings = _settings_of(filled.command)
    assert settings["port"] == "25432"
    assert settings["unix_socket_directories"] == str(workdir)
    assert not any(WORKDIR_PLACEHOLDER in part for part in filled.command)


def test_a_restored_data_directory_is_adopted_into_the_workdir(tmp_path: Path) -> None:
    restored = tmp_path / "staging"
    restored.mkdir()
    (restored / "PG_VERSION").write_text("15\n")
    provider = PostgresProvider(settings={"restore_command": "'x %f %p'"}, restore_from=restored)
    spec = provider.container()
    workdir = tmp_path / "postgres-1"
    workdir.mkdir()
    provider.prepare_container(workdir)
    filled = spec.in_workdir(tmp_path, workdir)
    assert (workdir / "data" / "recovery.signal").is_file()
    assert not restored.exists(), "moved, not copied"
    assert _settings_of(filled.command)["hba_file"] == f"{workdir}/data/pg_hba.conf"
    endpoint = provider.from_container("127.0.0.1", {5432: 25433})
    assert endpoint.data_dir == workdir / "data", "the host's tools read it at the same path"


def test_a_recovery_log_kept_apart_is_where_the_server_writes(tmp_path: Path) -> None:
    provider = PostgresProvider(settings=ARCHIVING)
    provider.log_path = tmp_path / "restore-1.log"
    spec = provider.container()
    assert spec.log_file == str(tmp_path / "restore-1.log")
    assert spec.env["HARNESS_LOG"] == spec.log_file


@pytest.mark.parametrize("images", list(ImageSet))
def test_the_dr_image_is_the_one_built_here_with_either_image_set(images: ImageSet) -> None:
    assert image_for(DR_IMAGE, images) == DR_IMAGE


def test_the_mount_reaches_docker_read_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testcontainers.core import container  # noqa: PLC0415

    class Offline:
        def __init__(self, **_: Any) -> None:
            pass

    monkeypatch.setattr(container, "DockerClient", Offline)
    spec = PostgresProvider(settings=ARCHIVING).container().in_workdir(tmp_path, tmp_path / "w")
    built = build_testcontainer(spec.on_host_port(25434))
    assert built.volumes[str(tmp_path)] == {"bind": str(tmp_path), "mode": "rw"}
    assert built._kwargs["network_mode"] == "host"


def test_a_missing_dr_image_is_built_from_the_image_of_the_set_in_use() -> None:
    assert build_command(DR_IMAGE, ImageSet.LOCAL) == "scripts/images/build postgres-dr"
    assert build_command(DR_IMAGE, ImageSet.OFFICIAL) == (
        f"docker build --build-arg BASE={IMAGE} -t {DR_IMAGE} scripts/images/postgres-dr"
    )
    dockerfile = Path(__file__).resolve().parents[2] / "scripts/images/postgres-dr/Dockerfile"
    assert f"ARG BASE={LOCAL_TAGS['postgres']}\n" in dockerfile.read_text()
