"""docker-compose.yml and the Dockerfile, checked against the real CLI and settings.

No Docker engine runs here, so nothing is built or started. Instead:

* every service's command is parsed by the real ``fitsflow`` click tree, and
  then run through the real command function under the service's environment
  with only its outermost step replaced (migrating, serving, watching,
  ``exec``-ing Dramatiq), so the settings it would run with can be inspected;
* every ``FITSFLOW_*`` variable is loaded by :func:`load_settings`;
* dependencies, scaling, volumes, health checks and restart policies are
  checked for the deployment docs/deployment.md describes;
* the file is validated against the compose-spec JSON schema (the copy
  vendored by ``check-jsonschema``);
* the API health check is run against a real status API;
* the Dockerfile is read for what the installed program needs at run time.
"""

from __future__ import annotations

import asyncio
import graphlib
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from packaging.specifiers import SpecifierSet
from pydantic import BaseModel
from typer.testing import CliRunner, Result

import pipeline.cli.app as cli_app
import pipeline.cli.services_cmd as services_cmd
from pipeline.api import ApiServer, NullBrokerProbe, create_app
from pipeline.api.routes import open_router
from pipeline.cli.dramatiq_workers import queue_prefetch
from pipeline.db import migrate, open_database
from pipeline.settings import (
    DEFAULT_CONFIG_FILE,
    ENV_PREFIX,
    DatabaseSettings,
    Settings,
    WorkerSettings,
    load_settings,
)

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
DEPLOYMENT_DOC = REPO / "docs" / "deployment.md"

#: The sub-command each fitsflow service runs (the deployment's design).
SUBCOMMANDS = {
    "migrate": ("db", "upgrade"),
    "watcher": ("watch",),
    "worker": ("worker",),
    "api": ("api",),
}
LONG_RUNNING = {"redis", "postgres", "watcher", "worker", "api"}
HEALTHCHECKED = {"redis", "postgres", "api"}
#: How many worker replicas the PostgreSQL connection limit must leave room for.
WORKER_REPLICAS_PLANNED = 8
#: PostgreSQL's superuser_reserved_connections default.
POSTGRES_RESERVED_CONNECTIONS = 3


# --- reading the compose file ------------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>.*))?", re.S)


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    """Compose's variable substitution, for the forms ``${NAME}``, ``$NAME``,
    ``${NAME:-default}``, ``${NAME-default}`` and ``$$``; anything else is
    refused, so a new form in the file fails here until it is supported."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return environ.get(match["named"], "")
        braced = _BRACED.fullmatch(match["braced"])
        if braced is None:
            raise ValueError(f"interpolation this test does not know: {match[0]!r}")
        value = environ.get(braced["name"])
        if braced["op"] == ":-" and not value:
            return braced["default"]
        if braced["op"] == "-" and value is None:
            return braced["default"]
        return value or ""

    return _VARIABLE.sub(substitute, text)


def _interpolated(node: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, environ)
    if isinstance(node, list):
        return [_interpolated(item, environ) for item in node]
    if isinstance(node, dict):
        return {key: _interpolated(value, environ) for key, value in node.items()}
    return node


def load_compose(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file as ``docker compose config`` would see it under
    ``environ`` (default: an empty environment and no .env file)."""
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    return typing.cast(dict[str, Any], _interpolated(document, environ or {}))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return typing.cast(dict[str, dict[str, Any]], compose["services"])


def command_of(service: Mapping[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):  # ["KEY=value", ...]
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """``{dependency: condition}``; the list form means ``service_started``."""
    dependencies = service.get("depends_on") or {}
    if isinstance(dependencies, list):
        return dict.fromkeys(dependencies, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in dependencies.items()}


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    kind: str
    read_only: bool


def mounts_of(service: Mapping[str, Any]) -> list[Mount]:
    mounts = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, str):
            parts = entry.split(":")
            source, target = parts[0], parts[1]
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            mounts.append(Mount(source, target, kind, len(parts) > 2 and "ro" in parts[2]))
        else:
            mounts.append(
                Mount(
                    entry["source"], entry["target"], entry["type"], entry.get("read_only", False)
                )
            )
    return mounts


def container_ports(service: Mapping[str, Any]) -> list[int]:
    ports = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.append(int(entry["target"]))
        else:
            ports.append(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


# --- the real CLI ------------------------------------------------------------


#: click's UsageError, from whichever click this typer uses (recent typer
#: versions vendor their own copy); BadParameter derives from it in both.
UsageError: type[Exception] = typer.BadParameter.__mro__[1]
assert UsageError.__name__ == "UsageError"


def parse_cli(args: list[str]) -> tuple[tuple[str, ...], Any]:
    """Parse ``fitsflow ARGS`` with the real command tree, without running it.

    Returns the sub-command path and the leaf's context, whose ``params`` hold
    the converted option values. Unknown sub-commands and options, missing
    arguments and out-of-range values raise :data:`UsageError`.
    """
    command: Any = typer.main.get_command(cli_app.app)
    parent, name, rest, path = None, "fitsflow", list(args), []
    while hasattr(command, "resolve_command"):  # a group: the next word is a sub-command
        assert rest and not rest[0].startswith("-"), f"options before a sub-command: {args}"
        parent = command.make_context(name, rest[:1], parent=parent)
        name, command, _ = command.resolve_command(parent, rest[:1])
        path.append(name)
        rest = rest[1:]
    return tuple(path), command.make_context(name, rest, parent=parent)


@dataclass
class DryRun:
    """What a command would have done, captured at its outermost step."""

    settings: Settings | None = None
    migrated: str | None = None
    exec_argv: list[str] | None = None
    exec_env: dict[str, str] | None = None


def _clear_fitsflow_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def dry_run(service: Mapping[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[DryRun, Result]:
    """Run the service's command through the real CLI, in the service's
    environment, stopping where it would migrate, serve, watch or exec."""
    captured = DryRun()
    _clear_fitsflow_environment(monkeypatch)
    for key, value in environment_of(service).items():
        monkeypatch.setenv(key, value)

    def upgrade(url: str, revision: str = "head") -> None:
        captured.migrated = url

    async def watch(settings: Settings) -> None:
        captured.settings = settings

    async def serve(settings: Settings) -> None:
        captured.settings = settings

    def execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        captured.exec_argv, captured.exec_env = list(argv), dict(env)

    def require_schema(url: str, *args: object, **kwargs: object) -> None:
        return None

    monkeypatch.setattr(migrate, "upgrade", upgrade)
    monkeypatch.setattr(migrate, "current_revision", lambda url: migrate.head_revision())
    monkeypatch.setattr(services_cmd, "require_schema", require_schema)
    monkeypatch.setattr(services_cmd, "_watch", watch)
    monkeypatch.setattr(services_cmd, "_serve_api", serve)
    monkeypatch.setattr(services_cmd.os, "execve", execve)
    # Logging is configured against the runner's captured stderr; keep the
    # session's logging as it is.
    monkeypatch.setattr(cli_app, "set_log_level", lambda level: None)
    monkeypatch.setattr(services_cmd, "configure_for", lambda settings, service: None)
    result = CliRunner().invoke(cli_app.app, command_of(service))
    return captured, result


# --- the compose file: commands ----------------------------------------------


def test_the_file_has_no_obsolete_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose


def test_services_are_the_deployment(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"redis", "postgres", *SUBCOMMANDS}


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_fitsflow_services_run_the_fitsflow_image(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    build = services[name].get("build")
    assert build, f"{name} does not build the fitsflow image"
    if isinstance(build, str):
        build = {"context": build}
    assert REPO / build["context"] / build.get("dockerfile", "Dockerfile") == DOCKERFILE
    service = services[name]
    # The Dockerfile's ENTRYPOINT makes the command a fitsflow sub-command.
    assert service.get("entrypoint") in (None, ["fitsflow"], "fitsflow")
    assert len({services[other]["image"] for other in SUBCOMMANDS}) == 1


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_commands_parse_with_the_real_cli(services: dict[str, dict[str, Any]], name: str) -> None:
    path, context = parse_cli(command_of(services[name]))
    assert path == SUBCOMMANDS[name]
    assert context.command.callback is not None


@pytest.mark.parametrize(
    "args",
    [
        ["worker", "--procs", "2"],
        ["worker", "--processes", "0"],
        ["watcher"],
        ["api", "--port", "eighty"],
        ["db", "upgrade", "--databse-url", "x"],
    ],
)
def test_the_parser_refuses_what_the_cli_refuses(args: list[str]) -> None:
    with pytest.raises(UsageError):
        parse_cli(args)


def test_migrate_upgrades_the_compose_database(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    captured, result = dry_run(services["migrate"], monkeypatch)
    assert result.exit_code == 0, result.output
    assert captured.migrated == environment_of(services["migrate"])["FITSFLOW_DATABASE_URL"]
    assert captured.migrated is not None and captured.migrated.startswith("postgresql://")


def test_watcher_watches_the_mounted_inbox(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    captured, result = dry_run(services["watcher"], monkeypatch)
    assert result.exit_code == 0, result.output
    assert captured.settings is not None
    (inbox,) = [mount for mount in mounts_of(services["watcher"]) if mount.kind == "volume"]
    assert captured.settings.watch.roots == (inbox.target,)
    assert captured.settings.broker.url.startswith("redis://")
    assert captured.settings.database.url.startswith("postgresql://")


def test_worker_execs_dramatiq_with_the_compose_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = services["worker"]
    _, context = parse_cli(command_of(worker))
    captured, result = dry_run(worker, monkeypatch)
    assert result.exit_code == 0, result.output
    assert captured.exec_argv is not None and captured.exec_env is not None
    argv = captured.exec_argv
    # Dramatiq's own CLI, under fitsflow's logging (pipeline.cli.dramatiq_workers).
    assert argv[1:4] == ["-m", "pipeline.cli.dramatiq_workers", "workers"]
    assert "--skip-logging" in argv
    assert argv[argv.index("--processes") + 1] == str(context.params["processes"])

    environment = environment_of(worker)
    for key in ("FITSFLOW_DATABASE_URL", "FITSFLOW_BROKER_URL"):
        assert captured.exec_env[key] == environment[key]
    # The Dramatiq processes load their settings from that environment.
    child = load_settings()
    assert argv[argv.index("--threads") + 1] == str(child.worker.threads)
    # Each process holds as many files as at a file a message, not a bundle's worth more.
    prefetch = queue_prefetch(child.worker.threads, child.broker.bundle_size)
    assert captured.exec_env["dramatiq_queue_prefetch"] == str(prefetch)
    # Compose runs the threads and pool the benchmarks measure (bench scale:
    # no pool exhaustion at them), not a hand-tuned pair of its own.
    assert (child.worker.threads, child.database.pool_max_size) == (
        WorkerSettings().threads,
        DatabaseSettings().pool_max_size,
    )


def test_api_listens_on_all_interfaces_of_its_container(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = services["api"]
    captured, result = dry_run(api, monkeypatch)
    assert result.exit_code == 0, result.output
    assert captured.settings is not None
    assert captured.settings.api.host == "0.0.0.0"
    assert container_ports(api) == [captured.settings.api.port]
    assert captured.settings.broker.url == environment_of(api)["FITSFLOW_BROKER_URL"]


# --- the compose file: environment -------------------------------------------


def _fitsflow_variables(
    services: dict[str, dict[str, Any]],
) -> Iterator[tuple[str, str, str]]:
    for name, service in sorted(services.items()):
        for key, value in sorted(environment_of(service).items()):
            if key.startswith(ENV_PREFIX):
                yield name, key, value


def test_services_share_one_database_and_broker(services: dict[str, dict[str, Any]]) -> None:
    for key in ("FITSFLOW_DATABASE_URL", "FITSFLOW_BROKER_URL"):
        values = {environment_of(services[name]).get(key) for name in SUBCOMMANDS}
        assert len(values) == 1 and None not in values, f"{key} differs: {values}"


def setting_of(variable: str) -> tuple[str, type[BaseModel], str]:
    """The settings section, its model, and the key a ``FITSFLOW_*`` variable sets."""
    # env_nested_max_split=1: the first underscore separates section from key.
    section, _, key = variable.removeprefix(ENV_PREFIX).lower().partition("_")
    assert section in Settings.model_fields, f"{variable}: no settings section {section!r}"
    model = typing.cast(type[BaseModel], Settings.model_fields[section].annotation)
    assert key in model.model_fields, f"{variable}: no setting {section}.{key}"
    return section, model, key


def test_every_fitsflow_variable_names_a_setting_and_lands_there(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = list(_fitsflow_variables(services))
    assert variables, "the compose file sets no FITSFLOW_* variable"
    for service, variable, value in variables:
        section, model, key = setting_of(variable)
        annotation = model.model_fields[key].annotation
        raw = json.loads(value) if typing.get_origin(annotation) in (tuple, list, dict) else value
        expected = getattr(model.model_validate({key: raw}), key)
        _clear_fitsflow_environment(monkeypatch)
        monkeypatch.setenv(variable, value)
        loaded = getattr(getattr(load_settings(), section), key)
        assert loaded == expected, f"{service}: {variable}={value!r} loaded as {loaded!r}"
        default = getattr(model(), key)
        assert loaded != default, f"{service}: {variable} repeats the default {default!r}"


@pytest.mark.parametrize("environ", [{}, {"POSTGRES_PASSWORD": "s3cret"}])
def test_database_url_matches_the_postgres_service(environ: dict[str, str]) -> None:
    services = load_compose(environ)["services"]
    postgres = environment_of(services["postgres"])
    for name in SUBCOMMANDS:
        url = urlsplit(environment_of(services[name])["FITSFLOW_DATABASE_URL"])
        assert url.hostname == "postgres"
        assert url.port in (None, 5432)
        assert url.username == postgres["POSTGRES_USER"]
        assert url.password == postgres["POSTGRES_PASSWORD"]
        assert url.path == "/" + postgres["POSTGRES_DB"]
    assert postgres["POSTGRES_PASSWORD"] == environ.get("POSTGRES_PASSWORD", "fitsflow")


def test_broker_url_points_at_the_redis_service(services: dict[str, dict[str, Any]]) -> None:
    url = urlsplit(environment_of(services["worker"])["FITSFLOW_BROKER_URL"])
    assert (url.scheme, url.hostname, url.port or 6379) == ("redis", "redis", 6379)


def test_every_variable_has_a_default() -> None:
    """No .env file is needed: each ${NAME} has a fallback."""
    text = COMPOSE_FILE.read_text()
    for match in _VARIABLE.finditer(text):
        if match["escaped"]:
            continue
        assert match["braced"] and ":-" in match["braced"], f"{match[0]} has no default"


def test_interpolation_follows_compose() -> None:
    environ = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d} ${EMPTY:-d} ${UNSET:-d}", environ) == "x d d"
    assert interpolate("${EMPTY-d} ${UNSET-d} $SET $${SET}", environ) == " d x ${SET}"
    with pytest.raises(ValueError):
        interpolate("${SET:?required}", environ)


# --- the compose file: order, scaling, volumes, health, restarts ---------------


def test_dependencies_start_in_order(services: dict[str, dict[str, Any]]) -> None:
    graph = {name: set(depends_on(service)) for name, service in services.items()}
    order = list(graphlib.TopologicalSorter(graph).static_order())  # CycleError on a cycle
    assert depends_on(services["migrate"]) == {"postgres": "service_healthy"}
    for name in ("watcher", "worker", "api"):
        assert depends_on(services[name])["migrate"] == "service_completed_successfully"
        assert order.index("migrate") < order.index(name)
    for name in ("watcher", "worker"):
        assert depends_on(services[name])["redis"] == "service_healthy"
    assert order.index("postgres") < order.index("migrate")


def test_dependency_conditions_can_be_met(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dependency, condition in depends_on(service).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
            if condition == "service_completed_successfully":
                assert services[dependency].get("restart") == "no", (
                    f"{dependency} must run once; a restart policy would never let it complete"
                )


def test_worker_scales(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker
    assert "hostname" not in worker
    assert not worker.get("ports"), "a fixed host port allows only one replica"
    assert "container_name" not in services["watcher"]


def test_inbox_volume_is_shared_at_the_same_path(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    watcher = [m for m in mounts_of(services["watcher"]) if m.kind == "volume"]
    worker = [m for m in mounts_of(services["worker"]) if m.kind == "volume"]
    assert len(watcher) == 1, watcher
    (inbox,) = watcher
    assert inbox.source in compose["volumes"], "the inbox must be a named volume"
    assert not inbox.read_only, "files are dropped in through the watcher"
    assert [(m.source, m.target) for m in worker] == [(inbox.source, inbox.target)]
    roots = json.loads(environment_of(services["watcher"])["FITSFLOW_WATCH_ROOTS"])
    assert roots == [inbox.target]


def test_stateful_services_keep_their_data(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    (postgres,) = mounts_of(services["postgres"])
    assert postgres.source in compose["volumes"]
    assert postgres.target == "/var/lib/postgresql/data"
    (redis,) = mounts_of(services["redis"])
    assert redis.source in compose["volumes"] and redis.target == "/data"
    assert "--appendonly" in command_of(services["redis"])


@pytest.mark.parametrize("name", sorted(HEALTHCHECKED))
def test_healthchecks_exist(services: dict[str, dict[str, Any]], name: str) -> None:
    check = services[name].get("healthcheck")
    assert check and not check.get("disable"), f"{name} has no healthcheck"
    assert check["test"][0] in ("CMD", "CMD-SHELL")


def test_postgres_healthcheck_uses_pg_isready(services: dict[str, dict[str, Any]]) -> None:
    check = " ".join(services["postgres"]["healthcheck"]["test"])
    assert "pg_isready" in check
    # The escaped $$ reaches the container's shell as its own variable.
    assert "${POSTGRES_USER}" in check


def _api_health_url(services: dict[str, dict[str, Any]]) -> str:
    check = services["api"]["healthcheck"]["test"]
    assert check[0] == "CMD" and check[1] == "python", "the slim image has python, not curl"
    (url,) = re.findall(r"https?://[^'\"\s]+", " ".join(check[2:]))
    return url


def test_api_healthcheck_hits_health_on_the_api_port(
    services: dict[str, dict[str, Any]],
) -> None:
    url = urlsplit(_api_health_url(services))
    _, context = parse_cli(command_of(services["api"]))
    assert url.path == "/health"
    assert url.hostname in ("127.0.0.1", "localhost")
    assert url.port == context.params["port"]
    # /health is on the router no token ever guards: the check needs none.
    assert "/health" in {getattr(route, "path", None) for route in open_router.routes}


async def _run_healthcheck(services: dict[str, dict[str, Any]], port: int) -> int:
    """Run the API container's health check here, aimed at ``port``."""
    api_port = urlsplit(_api_health_url(services)).port
    _cmd, _python, *arguments = services["api"]["healthcheck"]["test"]
    aimed = [argument.replace(f":{api_port}/", f":{port}/") for argument in arguments]
    process = await asyncio.create_subprocess_exec(
        sys.executable, *aimed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), timeout=30)


async def test_api_healthcheck_passes_on_a_live_api_and_fails_without_one(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    database = open_database(DatabaseSettings(url=f"sqlite:///{tmp_path / 'unused.db'}"))
    server = ApiServer(create_app(database, NullBrokerProbe(), settings=Settings()), "127.0.0.1", 0)
    port = server.listen()
    serving = asyncio.create_task(server.serve())
    try:
        assert await _run_healthcheck(services, port) == 0
    finally:
        server.stop()
        await asyncio.wait_for(serving, timeout=10)
    assert await _run_healthcheck(services, port) != 0


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_long_running_services_restart(services: dict[str, dict[str, Any]], name: str) -> None:
    assert services[name].get("restart") == "unless-stopped"


def test_migrate_runs_once(services: dict[str, dict[str, Any]]) -> None:
    # Unquoted `no` is YAML 1.1 for false, which compose rejects.
    assert services["migrate"].get("restart") == "no"


def _postgres_setting(services: dict[str, dict[str, Any]], name: str, default: int) -> int:
    command = command_of(services["postgres"]) if "command" in services["postgres"] else []
    for option, value in itertools.pairwise(command):
        if option == "-c" and value.startswith(f"{name}="):
            return int(value.partition("=")[2])
    return default


def test_postgres_has_connections_for_the_planned_workers(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def pool_size(name: str) -> int:
        _clear_fitsflow_environment(monkeypatch)
        for key, value in environment_of(services[name]).items():
            monkeypatch.setenv(key, value)
        return load_settings().database.pool_max_size

    _, worker = parse_cli(command_of(services["worker"]))
    needed = (
        WORKER_REPLICAS_PLANNED * worker.params["processes"] * pool_size("worker")
        + pool_size("watcher")
        + pool_size("api")
    )
    available = _postgres_setting(services, "max_connections", 100)
    assert needed <= available - POSTGRES_RESERVED_CONNECTIONS


# --- the compose file against the compose specification -------------------------


#: The compose-spec JSON schema, as vendored by check-jsonschema.
SCHEMA_OPTIONS = ("--builtin-schema", "vendor.compose-spec")


def _validate_against_compose_spec(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *SCHEMA_OPTIONS, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_compose_file_follows_the_compose_spec_schema() -> None:
    result = _validate_against_compose_spec(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_refuses_an_invalid_file(tmp_path: Path) -> None:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    document["services"]["worker"]["restart_policy"] = "always"  # not a service key
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(document))
    result = _validate_against_compose_spec(broken)
    assert result.returncode != 0
    assert "restart_policy" in result.stdout + result.stderr


# --- the Dockerfile ----------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def dockerfile_instructions() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends in a continuation line"
    return instructions


def _only(keyword: str) -> Instruction:
    found = [i for i in dockerfile_instructions() if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {found}"
    return found[0]


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_image_is_python_slim_within_requires_python() -> None:
    image = _only("FROM").arguments
    match = re.fullmatch(r"python:(\d+\.\d+)-slim", image)
    assert match, image
    assert match[1] + ".0" in SpecifierSet(_pyproject()["project"]["requires-python"])


def test_entrypoint_is_the_fitsflow_script() -> None:
    entrypoint = json.loads(_only("ENTRYPOINT").arguments)  # exec form
    assert entrypoint == ["fitsflow"]
    assert "fitsflow" in _pyproject()["project"]["scripts"]


def _pip_installs() -> list[list[str]]:
    installs = []
    for instruction in dockerfile_instructions():
        if instruction.keyword != "RUN":
            continue
        for step in re.split(r"&&|;", instruction.arguments):
            words = shlex.split(step)
            if "pip" in words and "install" in words:
                installs.append(words[words.index("install") + 1 :])
    return installs


def test_image_installs_the_project_without_extras() -> None:
    (arguments,) = _pip_installs()
    targets = [word for word in arguments if not word.startswith("-")]
    assert targets == ["."], arguments
    assert not any("[" in word for word in arguments), "no test/dev extras in the image"


def test_image_installs_in_place_while_migrations_live_beside_the_source() -> None:
    """alembic.ini and config/ are found relative to the source tree, and are
    not part of the wheel: only an editable install can find them."""
    outside_package = not migrate.ALEMBIC_INI.is_relative_to(REPO / "pipeline")
    (arguments,) = _pip_installs()
    if outside_package:
        assert {"-e", "--editable"} & set(arguments), (
            "a plain `pip install .` leaves `fitsflow db upgrade` without alembic.ini"
        )


def _copied_paths() -> dict[str, str]:
    """``{source: where it lands, relative to WORKDIR}`` for every COPY."""
    landed: dict[str, str] = {}
    for instruction in dockerfile_instructions():
        if instruction.keyword != "COPY":
            continue
        words = shlex.split(instruction.arguments)
        assert not any(word.startswith("--from") for word in words), "single-stage build"
        *sources, destination = [word for word in words if not word.startswith("--")]
        for source in sources:
            clean = source.rstrip("/")
            if len(sources) == 1 and destination not in ("./", "."):
                landed[clean] = destination.rstrip("/")
            else:
                landed[clean] = str(Path(destination) / Path(clean).name).removeprefix("./")
    return landed


def _runtime_paths() -> set[str]:
    """What the installed program reads from its source tree, from the code itself."""
    setuptools = _pyproject()["tool"]["setuptools"]
    packages = {pattern.removesuffix("*") for pattern in setuptools["packages"]["find"]["include"]}
    alembic_ini = migrate.ALEMBIC_INI
    script_location = alembic_ini.parent / "migrations"
    assert "%(here)s/migrations" in alembic_ini.read_text(), "alembic.ini moved its revisions"
    return {
        "pyproject.toml",
        *packages,
        alembic_ini.relative_to(REPO).as_posix(),
        script_location.relative_to(REPO).as_posix(),
        DEFAULT_CONFIG_FILE.relative_to(REPO).as_posix(),
    }


def test_image_copies_what_the_program_reads_at_run_time() -> None:
    copied = _copied_paths()
    for source, destination in copied.items():
        assert (REPO / source).exists(), f"COPY {source}: no such path"
        assert destination == source, f"{source} must keep its place in the tree"
    for path in _runtime_paths():
        assert any(path == c or path.startswith(c + "/") for c in copied), f"{path} not copied"


def _dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    out = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif pattern[index] == "*":
            out.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            out.append("[^/]")
            index += 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            out.append(pattern[index : end + 1])
            index = end + 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(out))


def dockerignored(path: str) -> bool:
    """Whether ``.dockerignore`` keeps ``path`` out of the build context: the
    last matching pattern decides; a pattern excludes a directory's content."""
    parts = path.split("/")
    ignored = False
    for line in _dockerignore_patterns():
        negated = line.startswith("!")
        regex = _dockerignore_regex(line.removeprefix("!").strip("/"))
        if any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            ignored = not negated
    return ignored


def test_dockerignore_keeps_local_state_out_and_the_program_in() -> None:
    for path in (".git/config", ".venv/bin/python", ".env", "pipeline/__pycache__/x.pyc"):
        assert dockerignored(path), path
    for source in _copied_paths():
        files = [REPO / source] if (REPO / source).is_file() else (REPO / source).rglob("*")
        for file in files:
            relative = file.relative_to(REPO).as_posix()
            if file.is_file() and "__pycache__" not in relative:
                assert not dockerignored(relative), f"{relative} is needed but ignored"


def test_image_runs_as_an_unprivileged_user() -> None:
    instructions = dockerfile_instructions()
    users = [i for i in instructions if i.keyword == "USER"]
    assert users, "the image runs as root"
    user = users[-1].arguments.split(":")[0]
    assert user not in ("root", "0")
    keywords = [i.keyword for i in instructions]
    last_run = max(n for n, k in enumerate(keywords) if k == "RUN")
    assert instructions.index(users[-1]) > last_run, "install as root, then drop privileges"


def test_image_prepares_the_inbox_for_its_user(services: dict[str, dict[str, Any]]) -> None:
    """A new named volume starts as a copy of the image's directory, owner included."""
    (inbox,) = [m for m in mounts_of(services["watcher"]) if m.kind == "volume"]
    user = [i for i in dockerfile_instructions() if i.keyword == "USER"][-1].arguments
    steps = [
        shlex.split(step)
        for i in dockerfile_instructions()
        if i.keyword == "RUN"
        for step in re.split(r"&&|;", i.arguments)
    ]
    assert any(words[:1] == ["mkdir"] and inbox.target in words for words in steps)
    assert any(
        words[:1] == ["chown"] and inbox.target in words and f"{user}:{user}" in words
        for words in steps
    )


# --- the deployment guide ------------------------------------------------------


def _code_blocks(markdown: str, language: str) -> list[str]:
    """The text of the guide's fenced blocks in ``language``."""
    blocks: list[str] = []
    current: list[str] | None = None
    fence_language = ""
    for line in markdown.splitlines():
        if line.startswith("```"):
            if current is None:
                current, fence_language = [], line[3:].strip()
                continue
            if fence_language == language:
                blocks.append("\n".join(current) + "\n")
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def _shell_commands(markdown: str) -> list[list[str]]:
    """The commands in the guide's ``bash`` blocks, continuation lines joined."""
    lines = "".join(_code_blocks(markdown, "bash")).replace("\\\n", " ").splitlines()
    return [words for line in lines if (words := shlex.split(line, comments=True))]


def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _keys(value)


def test_guide_yaml_sets_real_settings() -> None:
    variables = [
        key
        for block in _code_blocks(DEPLOYMENT_DOC.read_text(), "yaml")
        for key in _keys(yaml.safe_load(block))
        if key.startswith(ENV_PREFIX)
    ]
    assert variables, "the guide shows the polling settings"
    for variable in variables:
        setting_of(variable)


def test_guide_commands_parse_with_the_real_cli(services: dict[str, dict[str, Any]]) -> None:
    fitsflow_commands = compose_commands = 0
    for words in _shell_commands(DEPLOYMENT_DOC.read_text()):
        assignments = words[1:] if words[0] == "export" else words
        for word in assignments:
            variable, equals, _ = word.partition("=")
            if not equals or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", variable):
                break
            if variable.startswith(ENV_PREFIX):
                setting_of(variable)
        if "fitsflow" in words:
            parse_cli(words[words.index("fitsflow") + 1 :])
            fitsflow_commands += 1
        if words[:2] == ["docker", "compose"]:
            compose_commands += 1
            arguments = words[2:]
            for option, value in itertools.pairwise(arguments):
                if option == "--scale":
                    assert value.partition("=")[0] in services, words
            if arguments[0] in ("exec", "run", "cp", "logs"):
                named = [word.split(":")[0] for word in arguments[1:] if not word.startswith("-")]
                assert any(name in services for name in named), words
    assert fitsflow_commands >= 5, "the guide shows how to run each process without Docker"
    assert compose_commands >= 4, "the guide shows how to run it with compose"
