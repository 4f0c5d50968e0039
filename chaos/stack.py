"""The chaos suite's own target: the system on databases of its own, supervised.

Destructive faults must not hurt the services the other suites share, so the chaos suite
starts a stack of its own: the services the system description's `[local]` needs
(Postgres with the disk-fault shim, idle; Neo4j; Redis), a Toxiproxy, and the target
reaching each of them through a Toxiproxy proxy,
with libfaketime preloaded (clock +0 until a fault says otherwise) and, where the machine
allows (root, `ip netns`), inside a network namespace of the harness, so that a
partition can drop packets for it alone. Every service is supervised: killed, it is
restarted on its own data and port, as an orchestrator would.

`configuration` gives the Chaos Toolkit configuration of an experiment run against it
(for `chaos run`, the stack command writes it as a `--var-file`, `python -m chaos.stack`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.context import ChaosContext
from chaos.netns import Namespace, namespace, namespaces_available
from fixtures.launcher import RunningService, ServiceLauncher
from fixtures.profile import Slo
from fixtures.providers.api import ApiEndpoint, ApiProvider
from fixtures.providers.base import Provider
from fixtures.providers.neo4j import Neo4jProvider
from fixtures.providers.postgres import PostgresProvider
from fixtures.providers.redis import RedisProvider
from fixtures.providers.toxiproxy import ToxiproxyEndpoint, ToxiproxyProvider
from system.loader import DEFAULT_SYSTEM, System, load_system

ENTITIES = 2_000
DEPENDENCY_TIMEOUT_SECONDS = 1.0
RESTART_DELAY_SECONDS = 1.0


@dataclass
class ChaosStack:
    services: dict[str, RunningService[Any]]
    namespace: Namespace | None
    namespace_problem: str | None  # why there is no namespace, if there is none
    extras: dict[str, Any] = field(default_factory=dict)
    system: System = field(default_factory=lambda: load_system(DEFAULT_SYSTEM))

    @property
    def api(self) -> ApiEndpoint:
        endpoint: ApiEndpoint = self.services["api"].endpoint
        return endpoint

    @property
    def toxiproxy(self) -> ToxiproxyEndpoint:
        endpoint: ToxiproxyEndpoint = self.services["toxiproxy"].endpoint
        return endpoint

    def configuration(
        self, run_dir: Path, slo: Slo, system: System | None = None, **extra: Any
    ) -> dict[str, Any]:
        """The Chaos Toolkit configuration of one experiment run against this stack."""
        api = self.api
        config: dict[str, Any] = {
            "api_url": api.url,
            **system_configuration(system or self.system),
            "run_dir": str(run_dir),
            "run_id": uuid.uuid4().hex[:10],
            "toxiproxy_url": self.toxiproxy.url,
            "p95_seconds": slo.p95_seconds,
            "dependency_timeout_seconds": DEPENDENCY_TIMEOUT_SECONDS,
            "entity_ids": f"1-{api.entities}",
            "destructive": True,
        }
        config.update({f"proxy_{name}": proxy for name, proxy in api.proxies.items()})
        if api.clock_file is not None:
            config["clock_file"] = str(api.clock_file)
        postgres = self.services.get("postgres")
        iofault_file = getattr(postgres.endpoint, "iofault_file", None) if postgres else None
        if iofault_file is not None:
            config["iofault_file"] = str(iofault_file)
        if self.namespace is not None:
            config["namespace"] = self.namespace.name
        archive = self.extras.get("archive")
        if archive is not None:
            config["proxy_s3"] = archive.proxy
        for name, service in self.services.items():
            if service.process is not None:
                config[f"pid_file_{name}"] = ""  # filled by the stack command, when it runs
        config.update(extra)
        return config

    def context(self, launcher: ServiceLauncher) -> ChaosContext:
        extras = {**self.extras, "namespace": self.namespace}
        return ChaosContext(services=self.services, reaper=launcher.reaper, extras=extras)


@contextlib.contextmanager
def chaos_stack(
    launcher: ServiceLauncher,
    *,
    use_namespace: bool = True,
    toxiproxy: ToxiproxyEndpoint | None = None,
) -> Iterator[ChaosStack]:
    """Start the stack (supervised); stop it and remove its namespace afterwards.

    `toxiproxy`: use that Toxiproxy (a shared one: only this stack's proxies and toxics are
    touched) instead of starting one."""
    with contextlib.ExitStack() as exits:
        services: dict[str, RunningService[Any]] = {}

        def start(name: str, service: RunningService[Any]) -> Any:
            exits.callback(service.stop)
            services[name] = service
            return service.endpoint

        problem = namespaces_available() if use_namespace else "not asked for"
        place = None
        if problem is None:
            place = exits.enter_context(namespace(launcher.reaper))
        system = launcher.system or load_system(DEFAULT_SYSTEM)
        local = system.description.local
        needed = local.services if local is not None else ()
        every: dict[str, Callable[[], Provider[Any]]] = {
            "postgres": lambda: PostgresProvider(io_faults=True),
            "neo4j": Neo4jProvider,
            "redis": RedisProvider,
        }
        providers: dict[str, Provider[Any]] = {name: every[name]() for name in needed}
        if toxiproxy is None:
            providers["toxiproxy"] = ToxiproxyProvider()
        else:
            services["toxiproxy"] = RunningService("toxiproxy", launcher.backend, toxiproxy, 0.0)
        for name, service in _start_together(launcher, providers).items():
            start(name, service)
        databases: dict[str, Any] = {name: services[name].endpoint for name in needed}
        toxiproxy = services["toxiproxy"].endpoint
        start("api", launcher.start(_target(system, databases, toxiproxy, place, seed=True)))
        for name in (*needed, "api"):  # Toxiproxy keeps its proxies in memory: not it
            services[name].supervise(RESTART_DELAY_SECONDS)
        yield ChaosStack(services, place, problem, system=system)


def system_configuration(system: System | None) -> dict[str, Any]:
    """The configuration keys that name the system description (`chaos.activities`)."""
    if system is None:
        return {}
    return {"system": str(system.source), "system_set": list(system.overrides)}


def _start_together(
    launcher: ServiceLauncher, providers: dict[str, Provider[Any]]
) -> dict[str, RunningService[Any]]:
    """Start the services at once (Neo4j's JVM takes the longest; the others start beside
    it). If one fails, the others are stopped and its error raised."""
    with ThreadPoolExecutor(max_workers=len(providers)) as pool:
        futures = {
            name: pool.submit(launcher.start, provider) for name, provider in providers.items()
        }
    errors = [error for future in futures.values() if (error := future.exception()) is not None]
    started = {name: future.result() for name, future in futures.items() if not future.exception()}
    if errors:
        for service in started.values():
            service.stop()
        raise errors[0]
    return started


def _target(
    system: System,
    databases: dict[str, Any],
    toxiproxy: ToxiproxyEndpoint,
    place: Namespace | None,
    *,
    seed: bool,
    faults: dict[str, str] | None = None,
) -> ApiProvider:
    return ApiProvider(
        databases.get("postgres"),
        databases.get("neo4j"),
        databases.get("redis"),
        toxiproxy,
        system=system,
        faults=faults,
        seed=seed,
        entities=ENTITIES,
        clock=True,
        namespace=place,
        proxy_suffix=f"-chaos-{uuid.uuid4().hex[:6]}",
    )


@contextlib.contextmanager
def with_target(
    stack: ChaosStack, launcher: ServiceLauncher, faults: dict[str, str]
) -> Iterator[ChaosStack]:
    """The stack with another target (test-only `faults`, e.g. one without a resilience it
    claims) on the same databases, supervised, through proxies of its own."""
    services = stack.services
    databases = {name: services[name].endpoint for name in ("postgres", "neo4j", "redis")
                 if name in services}  # fmt: skip
    provider = _target(
        stack.system,
        databases,
        stack.toxiproxy,
        stack.namespace,
        seed=False,
        faults=faults,
    )
    target = launcher.start(provider)
    try:
        target.supervise(RESTART_DELAY_SECONDS)
        yield ChaosStack(
            {**stack.services, "api": target},
            stack.namespace,
            stack.namespace_problem,
            system=stack.system,
        )
    finally:
        target.stop()
