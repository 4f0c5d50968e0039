"""The load worker's image and Kubernetes manifest agree with the worker and with each other
(issue 25): `deploy/k8s/load-workers.yaml`, `scripts/images/load-worker/Dockerfile` and
the load-worker entries of `scripts/images/build`.

No Docker, no cluster, no network. `load.worker` is never imported here (Locust patches the
importing process for gevent): its argument parser is run in a child process, which stops
at reading the plan (absent), before it would connect to any master.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "deploy/k8s/load-workers.yaml"
DOCKERFILE = REPO / "scripts/images/load-worker/Dockerfile"
BUILD = REPO / "scripts/images/build"
IMAGE_NAME = "reliability-harness/load-worker"
EXIT_BAD_PLAN = 2  # load.distributed.EXIT_BAD_PLAN, without importing the worker's side
VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")  # Kubernetes' $(VAR) in args


def _build_array(name: str) -> list[str]:
    """A bash array of scripts/images/build, e.g. LOAD_WORKER_CODE=( ... )."""
    match = re.search(rf"^{name}=\(([^)]*)\)", BUILD.read_text(), re.MULTILINE)
    assert match is not None, f"scripts/images/build has no {name}=(...)"
    return match[1].split()


def _build_tag() -> str:
    match = re.search(r'^LOAD_WORKER_TAG="([^"]+)"', BUILD.read_text(), re.MULTILINE)
    assert match is not None, "scripts/images/build has no LOAD_WORKER_TAG"
    return match[1]


def _documents() -> dict[str, dict[str, Any]]:
    documents = [doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc is not None]
    by_kind = {doc["kind"]: doc for doc in documents}
    assert len(by_kind) == len(documents), "one document of each kind"
    return by_kind


def _pod() -> dict[str, Any]:
    spec: dict[str, Any] = _documents()["Deployment"]["spec"]["template"]["spec"]
    return spec


def _container() -> dict[str, Any]:
    containers = _pod()["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s*", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins


# the manifest -------------------------------------------------------------------------------
def test_the_manifest_is_a_deployment_of_two_workers_serving_one_run_after_another() -> None:
    documents = _documents()
    assert set(documents) == {"Deployment"}, "no plan: each master sends its own"
    deployment = documents["Deployment"]
    assert deployment["apiVersion"] == "apps/v1"
    assert deployment["spec"]["replicas"] == 2
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    args = _container()["args"]
    assert args[args.index("--runs") + 1] == "0", "a pod serves every workload's master"


def test_the_image_is_the_one_the_build_script_makes() -> None:
    tag = _build_tag()
    assert _container()["image"] == tag
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert tag == f"{IMAGE_NAME}:{version}", "the tag is the harness's version"
    for path in (MANIFEST, DOCKERFILE, REPO / "docs/distributed-load.md"):
        named = set(re.findall(rf"{re.escape(IMAGE_NAME)}:[\w.-]+", path.read_text()))
        assert named <= {tag}, f"{path.relative_to(REPO)} names {named - {tag}}"


def test_the_worker_is_built_only_when_named() -> None:
    """Not in the default build (`make test` builds it on a clean machine) nor a service."""
    assert "load-worker" not in _build_array("SERVICES")
    assert "load-worker" in _build_array("ON_REQUEST")


def test_each_worker_is_named_after_its_pod_and_told_the_master() -> None:
    container = _container()
    env = {item["name"]: item for item in container["env"]}
    used = {name for arg in container["args"] for name in VARIABLE.findall(arg)}
    assert used <= set(env), f"args use undefined variables {used - set(env)}"
    args = container["args"]
    name = VARIABLE.fullmatch(args[args.index("--name") + 1])
    assert name is not None, "a fixed name would be the same in every pod"
    assert env[name[1]]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    master = VARIABLE.fullmatch(args[args.index("--master") + 1])
    assert master is not None
    assert re.fullmatch(r"[\w.-]+:\d+", env[master[1]]["value"])


def test_the_worker_has_cpu_and_memory_requests_and_limits() -> None:
    resources = _container()["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind]), kind
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"], "never throttled below"


def test_the_workers_may_load_a_target_off_the_pod() -> None:
    assert "--allow-remote" in _container()["args"]


def test_the_worker_accepts_the_manifests_arguments_and_its_image_holds_what_it_imports() -> None:
    """The manifest's args through `python -m load.worker`'s own parser (then an impossible
    `--wait-seconds 0`: the worker stops there, exit 2, before connecting), with `-X
    importtime` listing every module it imported: each of the harness's is in the image's
    code."""
    container = _container()
    samples = {"MASTER_ADDRESS": "127.0.0.1:1", "POD_NAME": "load-worker-5d9c7-x2x4q"}
    args = [
        VARIABLE.sub(lambda match: samples.get(match[1], "value"), arg) for arg in container["args"]
    ]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "load.worker", *args, "--wait-seconds", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    errors = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert done.returncode == EXIT_BAD_PLAN, errors
    assert errors == ["ERROR: --runs must be >= 0 and --wait-seconds > 0"]

    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    packages = {path.parent.name for path in REPO.glob("*/__init__.py")}
    harness = {name for name in imported if name.split(".")[0] in packages}
    assert harness, "no module of the harness imported: -X importtime said nothing?"
    code = _build_array("LOAD_WORKER_CODE")
    missing = []
    for name in sorted(harness):
        base = REPO / name.replace(".", "/")
        path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        relative = path.relative_to(REPO).as_posix()
        if not any(relative == entry or relative.startswith(f"{entry}/") for entry in code):
            missing.append(relative)
    assert not missing, f"the worker imports {missing}: add them to LOAD_WORKER_CODE"


# the image ----------------------------------------------------------------------------------
def test_the_dockerfile_pins_what_constraints_txt_pins() -> None:
    dockerfile = DOCKERFILE.read_text()
    pinned = _pins(re.findall(r"'([^']+==[^']+)'", dockerfile))
    assert {"locust", "gevent", "hdrhistogram", "pydantic"} <= set(pinned)
    constraints = _pins((REPO / "constraints.txt").read_text().splitlines())
    differ = {
        name: (v, constraints.get(name)) for name, v in pinned.items() if constraints.get(name) != v
    }
    assert not differ, f"Dockerfile pin != constraints.txt pin: {differ}"
    assert "-c /opt/load-worker/constraints.txt" in dockerfile, "the rest held to constraints"


def test_the_dockerfile_starts_the_worker_from_the_base_image() -> None:
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"^FROM reliability-harness/debian:12$", dockerfile, re.MULTILINE)
    assert re.search(r'^ENTRYPOINT \["python3", "-m", "load\.worker"\]$', dockerfile, re.MULTILINE)


@pytest.mark.parametrize("entry", _build_array("LOAD_WORKER_CODE"))
def test_the_images_code_exists(entry: str) -> None:
    assert (REPO / entry).exists(), entry
