"""A private MariaDB server for the tests (Debian's mariadb-server), on 127.0.0.1 and a free
port, in a temporary folder, with a password user `monitor` that may read everything."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .servers import free_port, stopper, wait_until

USER, PASSWORD = "monitor", "my secret 7"


@dataclass
class MariaDBServer:
    host: str
    port: int
    user: str
    password: str
    socket: str
    pid: int

    def admin(self, **kwargs):
        """A root connection over the server's unix socket."""
        import pymysql

        return pymysql.connect(unix_socket=self.socket, user="root", autocommit=True, **kwargs)


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if not found:
        raise RuntimeError(f"{name} not found: install Debian's 'mariadb-server' package "
                           "(apt-get install mariadb-server; .ci/run does this)")
    return found


def start_server() -> tuple[MariaDBServer, callable]:
    root = Path(tempfile.mkdtemp(prefix="detectkit-mariadb-"))
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run([_binary("mariadb-install-db"), "--no-defaults", f"--datadir={root / 'data'}",
                    "--auth-root-authentication-method=normal", "--skip-test-db", *as_root],
                   check=True, capture_output=True)
    port, sock = free_port(), str(root / "mysqld.sock")
    process = subprocess.Popen(
        [_binary("mariadbd"), "--no-defaults", f"--datadir={root / 'data'}", f"--socket={sock}", f"--port={port}",
         "--bind-address=127.0.0.1", "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
         "--innodb-log-file-size=8M", f"--log-error={root / 'error.log'}", f"--pid-file={root / 'mysqld.pid'}",
         *as_root],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    server = MariaDBServer("127.0.0.1", port, USER, PASSWORD, sock, process.pid)
    stop = stopper(process, root)

    try:
        wait_until(lambda: process.poll() is None and server.admin().ping() is None, f"MariaDB (see {root}/error.log)")
        with server.admin() as con, con.cursor() as cur:
            cur.execute(f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
            cur.execute(f"GRANT ALL ON *.* TO '{USER}'@'127.0.0.1'")
    except Exception:
        stop()
        raise
    return server, stop
