"""`python -m drill.rehearsal --profile staging-rehearsal.toml`: a staging of one's own.

It starts, in its own process, what a shared environment has for a system (`--system`,
the reference target's by default) — Postgres archiving its WAL and base backups to an S3
endpoint (moto) with Barman Cloud, the other services its description's `[local]` needs,
Toxiproxy in front of them, the target seeded, Prometheus scraping the target and a
Pushgateway every second and evaluating the system's rules (production `for:`),
Alertmanager running the team's configuration (`[alerts.routing] config`; every receiver's
integrations replaced by a webhook of the rehearsal's, so nothing is sent anywhere;
`harness_test="true"` reaches its quiet receiver as in production) — writes a target
profile for it (secrets as `${NAME}`, printed as `export` lines), and waits; Ctrl-C
stops everything. Then, as an outside operator would:

    export REHEARSAL_POSTGRES_PASSWORD=... (the lines it printed)
    .venv/bin/python -m drill --target staging-rehearsal.toml

The profile has `destructive = false`, lets the harness induce the rules `--induce` names
(default: every rule the description induces by pushing a result or through a
`profile_fault`, but one held 15 minutes or more before it fires: a drill waits it out),
names the archive (`[dr]`) with `write_markers = true`, and allows latency chaos through
its Toxiproxy, and the kinds of the profile faults it induces; where one is a kill
(ServiceDown), `[hooks]` that freeze and release the target's process group, as a
platform's own stop and start commands would (used only with `--destructive`, which writes
`destructive = true`). With `--destructive`, for a system with `[dr.standby]`, its Postgres
is a primary and a streaming standby behind a writer and a reader endpoint (the profile's
`dsn` and `standby_dsn`), with `[hooks]` that fail it over as a platform would
(`drill/failover_control.py`). `--no-opt-in` writes one that allows none of these.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import secrets
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from alerting.deployed import rule_directories, rule_texts
from alerting.induced import fault_rules, inducible_rules, profile_fault
from alerting.routing import read_config, with_webhook
from alerting.rules import load_rules, rule_files
from alerting.stack import PUSHGATEWAY_JOB, evaluating_prometheus
from alerting.webhook import WebhookReceiver
from dr.buckets import seed_mirrored
from dr.primary import archiving_primary
from drill.failover_control import (
    SERVER_SETTINGS,
    control_endpoint,
    control_hooks,
    replicated_database,
)
from fixtures.backend import Backend
from fixtures.errors import HarnessError
from fixtures.launcher import ServiceLauncher
from fixtures.profile import LOCAL, load_profile
from fixtures.providers.alertmanager import AlertmanagerProvider
from fixtures.providers.api import ApiEndpoint, ApiProvider, warm_up
from fixtures.providers.neo4j import Neo4jProvider
from fixtures.providers.postgres import Login
from fixtures.providers.pushgateway import PushgatewayProvider
from fixtures.providers.redis import RedisProvider
from fixtures.providers.s3 import S3Endpoint, S3Provider
from fixtures.providers.toxiproxy import ToxiproxyProvider
from system.loader import DEFAULT_SYSTEM, System, load_system

ARCHIVE_TIMEOUT_SECONDS = 5.0
REHEARSAL_WARM_UP_REQUESTS = 300
REPLICATED_OBJECTS = 50  # per prefix of the mirrored bucket
QUIET_ALERTMANAGER = """\
route:
  receiver: quiet
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['harness_test="true"']
      receiver: quiet
      group_wait: 0s
      group_interval: 1s
receivers:
  - name: quiet
"""


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m drill.rehearsal", description=__doc__)
    parser.add_argument("--profile", required=True, help="where to write the target profile")
    parser.add_argument(
        "--no-opt-in", action="store_true", help="a profile that allows no push, write or chaos"
    )
    parser.add_argument(
        "--destructive",
        action="store_true",
        help="a profile with destructive = true: the drill may stop the target through its "
        "[hooks] (ServiceDown), fail its database over (a standby and failover [hooks], for "
        "a system with [dr.standby]) and run the destructive tests a profile allows",
    )
    parser.add_argument("--system", default=DEFAULT_SYSTEM, help="the system description")
    parser.add_argument(
        "--induce",
        action="append",
        metavar="RULE",
        help="a rule the profile lets the harness induce (repeatable; default: every rule "
        "the description induces by pushing a result or through a profile_fault whose "
        f"for: is under {LONGEST_DEFAULT_FOR_SECONDS / 60:g} minutes)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse(argv)
    stop = threading.Event()

    def on_signal(_number: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        system = load_system(arguments.system)
    except HarnessError as error:
        print(f"rehearsal: {error}", file=sys.stderr)
        return 2
    launcher = ServiceLauncher(Backend.NATIVE, load_profile(LOCAL), system=system)
    profile = Path(arguments.profile).resolve()
    alerts = system.description.alerts
    induce = arguments.induce or (default_induce(system) if alerts else [])
    opt_in = None if arguments.no_opt_in else OptIn(tuple(induce), arguments.destructive)
    try:
        serve(launcher, system, profile, opt_in=opt_in, stop=stop)
    except HarnessError as error:
        print(f"rehearsal: {error}", file=sys.stderr)
        return 2
    finally:
        launcher.close()
        profile.unlink(missing_ok=True)
    print("rehearsal: stopped")
    return 0


# A drill against the rehearsal waits out each induced rule's production `for:`: a rule
# held for an hour (ChaosDrillNotRun) is left out unless `--induce` names it.
LONGEST_DEFAULT_FOR_SECONDS = 15 * 60.0


def default_induce(system: System) -> list[str]:
    """The rules the profile lets the harness induce when `--induce` names none."""
    alerts = system.description.alerts
    if alerts is None:
        return []
    held = {name: rule.for_seconds for name, rule in load_rules(rule_files(alerts.rules)).items()}
    everything = inducible_rules(system.description) + fault_rules(system.description)
    return [name for name in everything if held.get(name, 0.0) < LONGEST_DEFAULT_FOR_SECONDS]


@dataclass(frozen=True)
class OptIn:
    """What the rehearsal's profile allows: pushes for these rules, marker writes, latency;
    destructive faults (stopping the target) only when `destructive`."""

    induce: tuple[str, ...]
    destructive: bool = False


def serve(
    launcher: ServiceLauncher,
    system: System,
    profile: Path,
    *,
    opt_in: OptIn | None,
    stop: threading.Event,
) -> None:
    local = system.description.local
    needed = local.services if local is not None else ()
    if "postgres" not in needed:
        raise HarnessError(
            f"rehearsal: {system.describe()} has no Postgres in [local] services: the "
            "rehearsal's point is restoring its archived Postgres"
        )
    # Random secrets, as an environment's are: the harness must mask them, and only them.
    s3: S3Endpoint = launcher.start(S3Provider(secret_key=_secret())).endpoint
    login = Login(password=_secret())
    standby = system.description.dr.standby
    failover = opt_in is not None and opt_in.destructive and standby is not None
    with (
        WebhookReceiver() as webhook,  # the receivers' integrations: nothing leaves
        archiving_primary(
            launcher,
            s3,
            ARCHIVE_TIMEOUT_SECONDS,
            extra_settings=SERVER_SETTINGS if failover else None,
            login=login,
        ) as primary,
        contextlib.ExitStack() as exits,
    ):
        services: dict[str, Any] = {"postgres": primary.endpoint, "s3": s3}
        toxiproxy = launcher.start(ToxiproxyProvider()).endpoint
        database = None
        if failover:
            assert standby is not None
            settings = primary.tool.postgres_settings(primary.archive_timeout_seconds)
            database, endpoints = exits.enter_context(
                replicated_database(
                    launcher,
                    toxiproxy,
                    primary.service,
                    settings=settings,
                    synchronous=standby.synchronous,
                    work_root=primary.work_root,
                )
            )
            services["postgres"] = dataclasses.replace(
                primary.endpoint, host=endpoints.writer[0], port=endpoints.writer[1]
            )
            services["postgres_standby"] = endpoints.reader
        if "neo4j" in needed:
            services["neo4j"] = launcher.start(Neo4jProvider(password=_secret())).endpoint
        if "redis" in needed:
            services["redis"] = launcher.start(RedisProvider()).endpoint
        kinds = _kinds(system, opt_in)
        api = launcher.start(
            ApiProvider(
                primary.endpoint,
                services.get("neo4j"),
                services.get("redis"),
                toxiproxy,
                system=system,
                environment=local.rehearsal_environment if local is not None else None,
                proxy_suffix="-rehearsal",
            )
        )
        target: ApiEndpoint = api.endpoint
        hooks = freezing_hooks(api.process.pid) if "kill" in kinds and api.process else {}
        if database is not None:
            database.routes = (*database.routes, target.proxies["postgres"])
            hooks |= control_hooks(exits.enter_context(control_endpoint(database)))
        primary.tool.backup(primary.endpoint, "rehearsal")
        # A staging environment is warm from its own traffic: a fresh Neo4j's first
        # traversals of cold pages are slow enough to tip its pool into timeouts.
        warm_up(target, system.description, requests_per_route=REHEARSAL_WARM_UP_REQUESTS)
        pushgateway = launcher.start(PushgatewayProvider()).endpoint
        config = alertmanager_config(system, webhook.url)
        alertmanager = launcher.start(AlertmanagerProvider(config=config)).endpoint
        alerts = system.description.alerts
        # the alert rules and the SLO's (Sloth's recordings and alerts), as a team deploys them
        rules = rule_texts(rule_directories(alerts)) if alerts is not None else {}
        scrape = {
            (alerts.job if alerts is not None else system.name): f"{target.host}:{target.port}",
            PUSHGATEWAY_JOB: f"{pushgateway.host}:{pushgateway.port}",
        }
        prometheus = launcher.start(evaluating_prometheus(scrape, alertmanager, rules)).endpoint
        services.update(
            target=target,
            toxiproxy=toxiproxy,
            prometheus=prometheus,
            alertmanager=alertmanager,
            pushgateway=pushgateway,
        )
        text = profile_text(
            services,
            primary.tool.location.prefix,
            system,
            opt_in=opt_in,
            kinds=kinds,
            replicas=_replicated_buckets(system, s3),
            hooks=hooks,
        )
        profile.write_text(text)
        print(f"rehearsal: the stack is up; its profile is {profile}")
        for name, value in secret_values(services).items():
            print(f"export {name}={value}")
        print("rehearsal: Ctrl-C stops everything", flush=True)
        while not stop.wait(1.0):
            pass


def _replicated_buckets(system: System, s3: S3Endpoint) -> dict[str, str]:
    """The environment's mirrored bucket and its DR replica, `REPLICATED_OBJECTS` objects
    under each of the description's `[dr.replication] prefixes` (none: not replicated)."""
    replication = system.description.dr.replication
    if replication is None:
        return {}
    source, replica = f"{s3.bucket}-files", f"{s3.bucket}-files-dr"
    prefixes = replication.prefixes or ("",)
    keys = [f"{prefix}{n:03d}.bin" for prefix in prefixes for n in range(REPLICATED_OBJECTS)]
    seed_mirrored(s3.client(), source, replica, keys)
    return {source: replica}


def alertmanager_config(system: System, webhook_url: str) -> str:
    """The Alertmanager configuration the team deploys (its `[alerts.routing]` config) with
    every receiver's integrations replaced by the rehearsal's own webhook, so nothing is
    sent anywhere; without one, a quiet receiver for everything."""
    routing = None if system.description.alerts is None else system.description.alerts.routing
    if routing is None:
        return QUIET_ALERTMANAGER
    return with_webhook(read_config(Path(routing.config)), webhook_url)


def _kinds(system: System, opt_in: OptIn | None) -> tuple[str, ...]:
    """`[chaos] allow` of the profile: latency, and the kinds of the faults it induces."""
    if opt_in is None:
        return ()
    faulted = set(fault_rules(system.description)) & set(opt_in.induce)
    kinds = {profile_fault(system.description, rule).kind for rule in faulted}
    return ("latency", *sorted(kinds - {"latency"}))


def freezing_hooks(pgid: int) -> dict[str, list[str]]:
    """The environment's own commands to stop and start its target (`[hooks]`): the
    rehearsal freezes the target's process group (SIGSTOP: it stops answering, and its
    scrapes time out) and lets it go on (SIGCONT), where a platform would scale it to zero
    and back. Python, not `kill`: a minimal Debian has no procps."""

    def signalling(name: str) -> list[str]:
        return [sys.executable, "-c", f"import os, signal; os.killpg({pgid}, signal.{name})"]

    return {"stop_api": signalling("SIGSTOP"), "start_api": signalling("SIGCONT")}


def _secret() -> str:
    # Hex: a URL-safe token may begin with "-", which neo4j-admin reads as an option.
    return secrets.token_hex(18)


def secret_values(services: dict[str, Any]) -> dict[str, str]:
    found = {
        "REHEARSAL_POSTGRES_PASSWORD": services["postgres"].password,
        "REHEARSAL_S3_SECRET_KEY": services["s3"].secret_access_key,
    }
    if "neo4j" in services:
        found["REHEARSAL_NEO4J_PASSWORD"] = services["neo4j"].password
    return found


def profile_text(
    services: dict[str, Any],
    prefix: str,
    system: System,
    *,
    opt_in: OptIn | None,
    kinds: tuple[str, ...] = ("latency",),
    replicas: Mapping[str, str] | None = None,
    hooks: Mapping[str, list[str]] | None = None,
) -> str:
    """A profile an operator would write for this environment."""
    target, postgres = services["target"], services["postgres"]
    s3, toxiproxy = services["s3"], services["toxiproxy"]
    proxies = ", ".join(f'{name} = "{proxy}"' for name, proxy in target.proxies.items())
    lines = [
        "[target]",
        'name = "staging-rehearsal"',
        f'system = "{system.source}"',
        f"destructive = {'true' if opt_in is not None and opt_in.destructive else 'false'}",
        "",
        "[services.api]",
        f'url = "{target.url}"',
        f'entity_ids = "1-{target.entities}"',
        "[services.postgres]",
        f'dsn = "postgresql://{postgres.user}@{postgres.host}:{postgres.port}/{postgres.dbname}"',
        'password = "${REHEARSAL_POSTGRES_PASSWORD}"',
    ]
    if "postgres_standby" in services:  # the reader endpoint: the standby, wherever it is
        host, port = services["postgres_standby"]
        lines.append(
            f'standby_dsn = "postgresql://{postgres.user}@{host}:{port}/{postgres.dbname}"'
        )
    if "neo4j" in services:
        neo4j = services["neo4j"]
        lines += [
            "[services.neo4j]",
            f'uri = "{neo4j.uri}"',
            f'user = "{neo4j.user}"',
            'password = "${REHEARSAL_NEO4J_PASSWORD}"',
        ]
    if "redis" in services:
        redis = services["redis"]
        lines += ["[services.redis]", f'url = "redis://{redis.host}:{redis.port}/0"']
    lines += [
        "[services.toxiproxy]",
        f'url = "{toxiproxy.url}"',
        f"proxies = {{ {proxies} }}",
        "[services.s3]",
        f'endpoint_url = "{s3.endpoint_url}"',
        f'bucket = "{s3.bucket}"',
        f'access_key_id = "{s3.access_key_id}"',
        'secret_access_key = "${REHEARSAL_S3_SECRET_KEY}"',
        f'region = "{s3.region}"',
    ]
    lines += [f'[services.{name}]\nurl = "{services[name].url}"' for name in
              ("prometheus", "alertmanager", "pushgateway")]  # fmt: skip
    lines += [
        "",
        "[dr]",
        'tool = "barman-cloud"',
        f'bucket = "{s3.bucket}"',
        f'prefix = "{prefix}"',
        'server = "primary"',
        f"tables = {json.dumps(list(system.description.dr.tables))}",
        f"write_markers = {'true' if opt_in else 'false'}",
    ]
    if replicas:
        lines += ["", "[buckets.replicas]"]
        lines += [
            f"{json.dumps(source)} = {json.dumps(replica)}" for source, replica in replicas.items()
        ]
    if opt_in is not None:
        lines += ["", "[alerts]", f"induce = {json.dumps(list(opt_in.induce))}"]
        lines += ["", "[chaos]", f"allow = {json.dumps(list(kinds))}"]
    if hooks:
        lines += ["", "[hooks]", *(f"{name} = {json.dumps(argv)}" for name, argv in hooks.items())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
