"""A private ClickHouse server for the tests (Debian's clickhouse-server), on 127.0.0.1 and a
free port, in a temporary folder. Its time zone is Europe/Berlin on purpose, so time zone
handling is tested against a server that is not on UTC."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .servers import free_port, stopper, wait_until

PASSWORD = "ch secret 5"

CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{root}/server.log</log><errorlog>{root}/error.log</errorlog>
    <size>10M</size><count>1</count></logger>
  <tcp_port>{port}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{root}/data/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <user_files_path>{root}/user_files/</user_files_path>
  <format_schema_path>{root}/format_schemas/</format_schema_path>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <timezone>Europe/Berlin</timezone>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
</yandex>
"""

USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password>{password}</password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
"""


@dataclass
class ClickHouseServer:
    host: str
    port: int
    user: str
    password: str
    pid: int

    def client(self, **kwargs):
        from clickhouse_driver import Client

        return Client(host=self.host, port=self.port, user=self.user, password=self.password, **kwargs)


def _binary() -> str:
    found = shutil.which("clickhouse-server") or shutil.which("clickhouse-server", path="/usr/sbin:/usr/bin")
    if not found:
        raise RuntimeError("clickhouse-server not found: install Debian's 'clickhouse-server' package "
                           "(apt-get install clickhouse-server; .ci/run does this)")
    return found


def start_server() -> tuple[ClickHouseServer, callable]:
    binary = _binary()
    root = Path(tempfile.mkdtemp(prefix="detectkit-ch-"))
    port = free_port()
    (root / "config.xml").write_text(CONFIG.format(root=root, port=port))
    (root / "users.xml").write_text(USERS.format(password=PASSWORD))
    process = subprocess.Popen([binary, f"--config-file={root / 'config.xml'}"], cwd=root,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    server = ClickHouseServer("127.0.0.1", port, "default", PASSWORD, process.pid)
    stop = stopper(process, root)

    try:
        wait_until(lambda: process.poll() is None and server.client().execute("SELECT 1") == [(1,)],
                   f"ClickHouse (see {root}/error.log)")
    except Exception:
        stop()
        raise
    return server, stop
