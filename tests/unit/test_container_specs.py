"""Every provider's container spec is pinned, complete and consistent with `from_container`,
and `build_testcontainer` turns it into the Testcontainers object it describes. The
containers backend, run for real, is `tests/integration/test_containers_backend.py`.

No Docker engine runs where these tests run. The spec checks need none. The
`build_testcontainer` checks replace testcontainers' `DockerClient` (whose constructor asks
the engine for its API version) with an offline stand-in: they test the mapping from spec
to Testcontainers object, not Docker.
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from docker.utils import convert_port_bindings

from fixtures.backend import docker_engine_problem
from fixtures.containers import (
    PORT_PLACEHOLDER,
    ContainerSpec,
    StartedContainer,
    build_testcontainer,
    start_container,
)
from fixtures.errors import ServiceStartError
from fixtures.images import LOCAL_TAGS, ImageSet, image_for
from fixtures.lifecycle.ports import LOOPBACK
from fixtures.providers.base import Provider
from fixtures.providers.postgres import container_command
from fixtures.providers.registry import PROVIDERS, STANDALONE

NAMES = sorted(STANDALONE)
# An image reference: [registry[:port]/]path[:tag][@digest]
IMAGE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def _provider(name: str) -> Provider[Any]:
    return PROVIDERS[name]()


def _spec(name: str) -> ContainerSpec:
    return _provider(name).container()


# the specs --------------------------------------------------------------------------------
def test_every_service_has_a_provider() -> None:
    assert {
        "postgres",
        "neo4j",
        "redis",
        "prometheus",
        "alertmanager",
        "pushgateway",
        "s3",
        "toxiproxy",
    } <= set(PROVIDERS)


@pytest.mark.parametrize("name", NAMES)
def test_the_image_is_pinned(name: str) -> None:
    image = _spec(name).image
    match = IMAGE.match(image)
    assert match is not None, f"{name}: {image!r} is not an image reference"
    assert match["tag"] or match["digest"], f"{name}: {image!r} has no tag: it means :latest"
    assert match["tag"] != "latest", f"{name}: {image!r} is not pinned"


@pytest.mark.parametrize("name", NAMES)
def test_from_container_reads_a_port_the_spec_exposes(name: str) -> None:
    provider = _provider(name)
    spec = provider.container()
    assert spec.ports, f"{name}: exposes no port"
    assert len(set(spec.ports)) == len(spec.ports), f"{name}: a port is listed twice"
    assert all(0 < port < 65536 for port in spec.ports)
    mapped = {port: 40000 + index for index, port in enumerate(spec.ports)}
    endpoint = provider.from_container("127.0.0.1", mapped)  # KeyError: reads an unexposed port
    assert endpoint.host == "127.0.0.1"
    assert endpoint.port in mapped.values(), (
        f"{name}: endpoint port {endpoint.port} is not a mapped host port {mapped}"
    )
    assert str(endpoint.port) in endpoint.describe()


@pytest.mark.parametrize("name", NAMES)
def test_files_go_to_absolute_container_paths(name: str) -> None:
    for container_path, text in _spec(name).files.items():
        assert container_path.startswith("/"), container_path
        assert ".." not in container_path.split("/")
        assert isinstance(text, str)


@pytest.mark.parametrize("name", NAMES)
def test_environment_and_command_are_strings(name: str) -> None:
    spec = _spec(name)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in spec.env.items())
    assert all(isinstance(argument, str) for argument in spec.command)


def test_importing_the_containers_module_needs_neither_docker_nor_testcontainers() -> None:
    code = (
        "import sys, fixtures.containers\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('docker', 'testcontainers')]\n"
        "assert not loaded, loaded\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=60)


# build_testcontainer ------------------------------------------------------------------------
class _OfflineSdkClient:
    def close(self) -> None:
        pass


class _OfflineDockerClient:
    """Stands in for testcontainers' `DockerClient`: a local engine that is never asked."""

    def __init__(self, **_kwargs: object) -> None:
        self.client = _OfflineSdkClient()

    def host(self) -> str:
        return "localhost"


@pytest.fixture
def offline_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    from testcontainers.core import container, utils  # noqa: PLC0415
    from testcontainers.core.config import testcontainers_config  # noqa: PLC0415

    monkeypatch.setattr(container, "DockerClient", _OfflineDockerClient)
    monkeypatch.setattr(testcontainers_config, "hub_image_name_prefix", "")
    monkeypatch.setattr(testcontainers_config, "connection_mode_override", None)
    monkeypatch.setattr(utils, "inside_container", lambda: False)
    for variable in (
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
        "NEO4J_USER",
        "NEO4J_PASSWORD",
    ):
        monkeypatch.delenv(variable, raising=False)


def _stop(spec: ContainerSpec, container: Any) -> None:
    StartedContainer(spec, container, LOOPBACK, {}).stop()


@pytest.mark.usefixtures("offline_docker")
@pytest.mark.parametrize("name", NAMES)
def test_build_maps_image_ports_env_and_command(name: str) -> None:
    spec = _spec(name)
    if spec.host_network:
        spec = spec.on_host_port(23456)
    container = build_testcontainer(spec, labels={"reliability-harness.session": "s1"})
    try:
        assert container.image == spec.image
        assert type(container).__name__ == "DockerContainer", "one wait: the harness's probe"
        assert container._kwargs["labels"] == {"reliability-harness.session": "s1"}
        if spec.host_network:
            assert container._kwargs["network_mode"] == "host"
            assert container.ports == {}, "a host-network container publishes nothing"
            assert any("23456" in part for part in spec.command)
            assert not any(PORT_PLACEHOLDER in part for part in spec.command)
            return
        # docker-py takes (host_ip,) for "a free port on that address"; testcontainers'
        # annotation of `ports` only knows host ports
        published: Mapping[str, object] = container.ports
        for port in spec.ports:
            # exposed, on a free host port of the loopback interface only
            assert published[str(port)] == (LOOPBACK,)
        # ...which is what docker-py sends the engine for it
        assert convert_port_bindings(container.ports) == {
            f"{port}/tcp": [{"HostIp": LOOPBACK, "HostPort": ""}] for port in spec.ports
        }
        for key, value in spec.env.items():
            assert container.env[key] == value
        if spec.command:
            assert container._command == list(spec.command)
        else:
            assert container._command is None, "the image's own command must be kept"
    finally:
        _stop(spec, container)


@pytest.mark.usefixtures("offline_docker")
@pytest.mark.parametrize("name", NAMES)
def test_build_mounts_the_files_read_only_and_stop_removes_them(name: str) -> None:
    spec = _spec(name)
    container = build_testcontainer(spec)
    host_dirs: set[Path] = set()
    try:
        mounts = {mount["bind"]: (host, mount["mode"]) for host, mount in container.volumes.items()}
        assert set(mounts) == set(spec.files)
        for container_path, text in spec.files.items():
            host, mode = mounts[container_path]
            assert mode == "ro"
            host_file = Path(host)
            assert host_file.read_text() == text
            # images such as prom/* run as nobody: the file must be readable by anyone
            assert stat.S_IMODE(host_file.stat().st_mode) & 0o444 == 0o444
            assert host_file.as_posix().endswith(container_path)
            host_dirs.add(Path(host[: -len(container_path)]))
    finally:
        _stop(spec, container)
    assert len(host_dirs) <= 1
    for host_dir in host_dirs:
        assert not host_dir.exists(), "stop() must remove the files' temp dir"


@pytest.mark.usefixtures("offline_docker")
def test_files_in_nested_directories_are_written_where_they_are_mounted() -> None:
    files = {"/etc/app/app.yml": "a: 1\n", "/etc/app/rules/one.yml": "r: 1\n", "/x": "x"}
    spec = ContainerSpec(image="busybox:1.36.1", ports=(8080,), files=files)
    container = build_testcontainer(spec)
    try:
        by_bind = {mount["bind"]: Path(host) for host, mount in container.volumes.items()}
        assert {path: by_bind[path].read_text() for path in files} == files
        assert all(mount["mode"] == "ro" for mount in container.volumes.values())
    finally:
        _stop(spec, container)
    assert not any(path.exists() for path in by_bind.values())


@pytest.mark.usefixtures("offline_docker")
@pytest.mark.parametrize("bad", ["etc/app.yml", "/etc/../root/x", "/"])
def test_a_file_path_that_is_not_an_absolute_file_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="absolute file path"):
        build_testcontainer(ContainerSpec(image="busybox:1.36.1", ports=(1,), files={bad: ""}))


@pytest.mark.usefixtures("offline_docker")
@pytest.mark.parametrize("where", ["inside a container", "remote engine", "bridge mode"])
def test_ports_are_published_on_all_interfaces_where_loopback_is_unreachable(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testcontainers.core import utils  # noqa: PLC0415
    from testcontainers.core.config import (  # noqa: PLC0415
        ConnectionMode,
        testcontainers_config,
    )

    if where == "inside a container":
        monkeypatch.setattr(utils, "inside_container", lambda: True)
    elif where == "remote engine":
        monkeypatch.setattr(_OfflineDockerClient, "host", lambda _self: "docker.example.test")
    else:
        monkeypatch.setattr(
            testcontainers_config, "connection_mode_override", ConnectionMode.bridge_ip
        )
    spec = ContainerSpec(image="busybox:1.36.1", ports=(8080, 9090))
    container = build_testcontainer(spec)
    try:
        assert container.ports == {"8080": None, "9090": None}
    finally:
        _stop(spec, container)


# start_container, for real ----------------------------------------------------------------
def test_without_an_engine_start_container_says_so_naming_the_image() -> None:
    """No mock: on a machine without Docker, the real call must fail with a usable error."""
    if docker_engine_problem() is None:
        pytest.skip("a Docker engine answers on this machine")
    spec = _spec("redis")
    with pytest.raises(ServiceStartError, match="--backend native") as failed:
        start_container(spec)
    assert spec.image in str(failed.value)


def test_redis_container_gets_the_same_directives_as_the_native_server() -> None:
    command = PROVIDERS["redis"](settings={"save": "60 1", "maxmemory": "64mb"}).container().command
    assert command[0] == "redis-server"
    assert command[command.index("--save") + 1 : command.index("--save") + 3] == ("60", "1")
    assert command[command.index("--maxmemory") + 1] == "64mb"
    assert command[command.index("--appendonly") + 1] == "no"


def test_redis_container_without_snapshots_by_default() -> None:
    command = PROVIDERS["redis"]().container().command
    assert command[command.index("--save") + 1] == ""


def test_prometheus_container_has_the_admin_api_like_the_native_one() -> None:
    assert "--web.enable-admin-api" in PROVIDERS["prometheus"]().container().command


@pytest.mark.parametrize("name", ["toxiproxy", "prometheus", "alertmanager"])
def test_what_reaches_the_host_runs_on_the_host_network_on_the_port_picked(name: str) -> None:
    spec = _spec(name)
    assert spec.host_network, f"{name} must reach processes on the host's loopback"
    filled = spec.on_host_port(24680)
    text = " ".join(filled.command) + " ".join(filled.files.values())
    assert f"{LOOPBACK}:24680" in text or "-port=24680" in text
    assert PORT_PLACEHOLDER not in text


def test_the_postgres_command_gives_each_setting_its_own_arguments() -> None:
    settings = {"archive_mode": "on", "archive_command": "'cp %p ''/a b''/%f'"}
    command = container_command(settings)
    assert command == (
        "postgres",
        "-c",
        "archive_mode=on",
        "-c",
        "archive_command=cp %p '/a b'/%f",
    )


@pytest.mark.parametrize("name", NAMES)
def test_every_official_image_has_a_locally_built_one(name: str) -> None:
    official = _spec(name).image
    local = image_for(official, ImageSet.LOCAL)
    assert local.startswith("reliability-harness/")
    assert image_for(official, ImageSet.OFFICIAL) == official


def test_the_local_tags_are_the_ones_the_build_script_makes() -> None:
    script = (Path(__file__).resolve().parents[2] / "scripts/images/build").read_text()
    neo4j = re.search(r'^NEO4J_VERSION="([^"]+)"', script, re.MULTILINE)
    toxiproxy = re.search(r'^TOXIPROXY_VERSION="v([^"]+)"', script, re.MULTILINE)
    assert neo4j is not None
    assert toxiproxy is not None
    expanded = script.replace("$NEO4J_VERSION", neo4j[1]).replace(
        "${TOXIPROXY_VERSION#v}", toxiproxy[1]
    )
    built = set(re.findall(r'\[[\w-]+\]="(reliability-harness/[^"]+)"', expanded))
    assert built == set(LOCAL_TAGS.values())


def test_the_versions_match_the_native_backend() -> None:
    """The same server versions on both backends (a dump moves between them)."""
    bootstrap = (Path(__file__).resolve().parents[2] / "scripts/bootstrap").read_text()
    neo4j = re.search(r'NEO4J_VERSION="([^"]+)"', bootstrap)
    toxiproxy = re.search(r'TOXIPROXY_VERSION="v([^"]+)"', bootstrap)
    assert neo4j is not None
    assert toxiproxy is not None
    assert _spec("neo4j").image == f"neo4j:{neo4j[1]}-community"
    assert _spec("toxiproxy").image.endswith(f":{toxiproxy[1]}")
