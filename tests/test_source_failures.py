"""Every server source against real servers: bounded time when a server freezes, one clear
line when it is unreachable or refuses the login, and never a secret in what it says.

A frozen server is made by stopping its processes with SIGSTOP: the kernel still accepts the
connection and keeps it open, nothing answers, and server-side timeouts cannot fire.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from detectkit_dagster.config.profiles import ClickHouseProfile, MySQLProfile, PostgresProfile
from detectkit_dagster.sources import SourceError, make_source
from detectkit_dagster.sources.base import scrub

from support.servers import frozen

HANG_LIMIT = 120  # a fetch still blocked after this long is a hang, whatever the deadlines say


@dataclass
class Backend:
    name: str
    pid: int
    profile: object
    slow_sql: str  # runs for several seconds on a healthy server
    checks_password: bool

    def source(self, **changes):
        return make_source(type(self.profile).model_validate({**self.profile.model_dump(), **changes}), Path("."))


@pytest.fixture(params=["postgres", "clickhouse", "mariadb"])
def backend(request) -> Backend:
    server = request.getfixturevalue(request.param)
    if request.param == "postgres":
        profile = PostgresProfile(type="postgres", host=server.host, port=server.port, user=server.user,
                                  database=server.dbname)
        return Backend("postgres", server.pid, profile, "SELECT pg_sleep(8) AS s", checks_password=False)
    if request.param == "clickhouse":
        profile = ClickHouseProfile(type="clickhouse", host=server.host, port=server.port, password=server.password)
        return Backend("clickhouse", server.pid, profile, "SELECT sleep(3) + sleep(3) AS s", checks_password=True)
    profile = MySQLProfile(type="mysql", host=server.host, port=server.port, user=server.user,
                           password=server.password, data_database="mysql")
    return Backend("mariadb", server.pid, profile, "SELECT SLEEP(8) AS s", checks_password=True)


def fetch_in_thread(source, sql: str) -> dict:
    """Run `fetch` in a worker; returns what it raised or returned once it ends (or a hang)."""
    outcome: dict = {}

    def work():
        try:
            outcome["frame"] = source.fetch(sql)
        except Exception as exc:  # noqa: BLE001 - the test inspects whatever came out
            outcome["error"] = exc

    worker = threading.Thread(target=work, daemon=True)
    outcome["thread"] = worker
    worker.start()
    return outcome


def finished(outcome: dict) -> dict:
    outcome["thread"].join(HANG_LIMIT)
    assert not outcome["thread"].is_alive(), "fetch still blocked on a frozen server"
    return outcome


def test_a_server_frozen_mid_query_fails_at_the_deadline(backend):
    outcome = fetch_in_thread(backend.source(query_timeout=3), backend.slow_sql)
    time.sleep(0.5)  # the query is running on the server now
    with frozen(backend.pid):
        finished(outcome)
    error = outcome.get("error")
    assert isinstance(error, SourceError), outcome
    assert "did not finish within 3 s (query_timeout of the profile)" in str(error)
    assert backend.source().fetch("SELECT 1 AS one")["one"].to_list() == [1]  # resumed: usable again


def test_a_frozen_server_cannot_hold_the_connect(backend):
    with frozen(backend.pid):
        outcome = finished(fetch_in_thread(backend.source(connect_timeout=2, query_timeout=3), "SELECT 1 AS one"))
    error = outcome.get("error")
    assert isinstance(error, SourceError), outcome
    assert str(error).startswith(("cannot connect to", "query on")), str(error)


def test_a_refused_connection_is_one_readable_line(backend):
    with pytest.raises(SourceError) as info:
        backend.source(port=1, connect_timeout=2).fetch("SELECT 1")
    text = str(info.value)
    assert text.startswith(f"cannot connect to {'mysql' if backend.name == 'mariadb' else backend.name} ")
    assert "\n" not in text and "refused" in text.lower()


def test_a_wrong_password_is_never_echoed(backend):
    secret = "Wr0ng pass-phrase"
    with pytest.raises(SourceError) as info:
        backend.source(password=secret, **({} if backend.checks_password else {"port": 1})).fetch("SELECT 1")
    text = str(info.value)
    assert "Wr0ng" not in text and "pass-phrase" not in text
    assert text.startswith("cannot connect to")


def test_a_query_error_names_the_problem_in_one_line(backend):
    with pytest.raises(SourceError) as info:
        backend.source().fetch("SELECT * FROM no_such_table_here")
    text = str(info.value)
    assert "no_such_table_here" in text and "\n" not in text and text.startswith("query failed on")


def test_scrub_removes_secrets_and_their_pieces():
    secret = "abc def1234&zz99yy"
    text = "missing '=' after 'def1234' in connection info; got zz99yy; host db port 5432"
    assert scrub(text, [secret, None]) == "missing '=' after '***' in connection info; got ***; host db port 5432"
    assert scrub(f"password is {secret}!", [secret]) == "password is ***!"
