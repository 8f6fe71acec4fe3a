"""A Dagster deployment on this machine, as production runs it, for the deployment test and the
fleet benchmark: the shipped `deploy/dagster.yaml` (PostgreSQL instance storage through
dagster-postgres, the queued run coordinator, run monitoring) on a private PostgreSQL server,
one code server per project (`dagster api grpc`, the Dockerfile's entry), and a real
`dagster-daemon` that runs the sensors and the automation, queues runs and launches each one as a
separate process of the code server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import yaml

from .postgres import PostgresServer
from .servers import free_port

REPO = Path(__file__).resolve().parents[2]
SHIPPED_INSTANCE = REPO / "deploy" / "dagster.yaml"
BIN = Path(sys.executable).parent
# Read by Dagster in every process that creates runs: the daemon and the webserver.
RUN_ENV = {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1"}


def create_database(server: PostgresServer, name: str) -> str:
    """A new database on the server; its DSN."""
    with psycopg.connect(server.dsn, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://{server.user}@{server.host}:{server.port}/{name}"


def instance_env(server: PostgresServer, database: str) -> dict[str, str]:
    """The variables the shipped dagster.yaml reads (the test server trusts local users, so any
    password does)."""
    return {"DAGSTER_PG_HOST": server.host, "DAGSTER_PG_PORT": str(server.port), "DAGSTER_PG_DB": database,
            "DAGSTER_PG_USER": server.user, "DAGSTER_PG_PASSWORD": "unused"}


def write_home(home: Path, overrides: dict | None = None) -> Path:
    """DAGSTER_HOME with the shipped dagster.yaml; `overrides` replaces top-level sections
    (shorter monitoring intervals, so a test need not wait minutes)."""
    config = yaml.safe_load(SHIPPED_INSTANCE.read_text())
    for section, value in (overrides or {}).items():
        config[section] = {**config.get(section, {}), **value}
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return home


@dataclass
class Deployment:
    """The processes of one deployment; `stop()` ends them all (each in its own session)."""

    home: Path
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    locations: dict[str, int] = field(default_factory=dict)  # code location name -> port

    def _start(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")
        # A new session with default signal handlers: it can be stopped as a group, whatever
        # the parent ignores.
        process = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_DFL),
                                signal.signal(signal.SIGTERM, signal.SIG_DFL)))
        log.close()
        self.processes[name] = process
        return process

    def start_code_servers(self, projects: dict[str, tuple[Path, dict[str, str]]]) -> None:
        """`dagster api grpc` serving each project's definitions (name -> folder, extra
        environment), started together; returns once every one answers."""
        for name, (root, extra) in projects.items():
            port = free_port()
            env = {**self.env, "DETECTKIT_PROJECT_DIR": str(root), **extra}
            self._start(f"code-{name}", [
                str(BIN / "dagster"), "api", "grpc", "-m", "detectkit_dagster.definitions",
                "-h", "127.0.0.1", "-p", str(port), "--location-name", name], env, root)
            self.locations[name] = port
        for name in projects:
            log = f"code-{name}"

            def serving() -> bool:
                if self.processes[log].poll() is not None:
                    raise RuntimeError(f"code server {name} exited: {self.log_tail(log)}")
                return "Started Dagster code server" in self.log_tail(log, 100_000)

            _wait(serving, f"code server {name}", timeout=120)

    def write_workspace(self) -> Path:
        entries = [{"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": name}}
                   for name, port in self.locations.items()]
        path = self.home / "workspace.yaml"
        path.write_text(yaml.safe_dump({"load_from": entries}))
        return path

    def start_daemon(self) -> None:
        workspace = self.write_workspace()
        self._start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], self.env, self.home)

    def log_tail(self, name: str, chars: int = 4000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")

    def stop(self) -> None:
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
            _signal_group(process, signal.SIGKILL)  # run workers the group may still hold


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _wait(ready, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout:g} s")
        time.sleep(0.5)


def new_deployment(work: Path, server: PostgresServer, database: str = "dagster",
                   overrides: dict | None = None) -> Deployment:
    """An empty instance on `server` and the environment its processes share."""
    create_database(server, database)
    home = write_home(work / "dagster_home", overrides)
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(home), **instance_env(server, database), **RUN_ENV}
    # the storage schema once, before processes that would each create it at the same time
    subprocess.run([str(BIN / "dagster"), "instance", "migrate"], env=env, cwd=home, check=True,
                   capture_output=True, timeout=180)
    return Deployment(home, env, logs)

