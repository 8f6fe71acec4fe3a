"""A private PostgreSQL server for the tests, started from the installed server binaries.

Set DETECTKIT_TEST_POSTGRES_DSN to use an existing server instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .servers import free_port, wait_until


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    dbname: str
    pid: int | None = None  # the postmaster (None for a server given by DSN)

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError(
        "PostgreSQL server binaries not found: install Debian's 'postgresql' package "
        "(apt-get install postgresql; .ci/run does this) or set DETECTKIT_TEST_POSTGRES_DSN"
    )


def _as_server_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; use the 'postgres' account then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def start_server() -> tuple[PostgresServer, callable]:
    bindir = _bindir()
    data = Path(tempfile.mkdtemp(prefix="detectkit-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_server_user([str(bindir / "initdb"), "-D", str(data / "db"), "-U", "postgres",
                         "--auth=trust", "-E", "UTF8", "--no-sync"]),
        check=True, capture_output=True,
    )
    subprocess.run(
        _as_server_user([str(bindir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w",
                         "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]),
        check=True, capture_output=True,
    )

    def stop():
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)

    wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None,
               f"PostgreSQL on port {port}", timeout=30)
    pid = int((data / "db" / "postmaster.pid").read_text().split()[0])
    return PostgresServer("127.0.0.1", port, "postgres", "postgres", pid), stop
