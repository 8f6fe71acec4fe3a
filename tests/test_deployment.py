"""A real deployment on this machine, as production runs one: the shipped `deploy/dagster.yaml`
on PostgreSQL (dagster-postgres, the queued run coordinator, run monitoring), a `dagster-daemon`
that evaluates the automation and dispatch sensors and launches every run as its own process,
and two code locations served by `dagster api grpc` (the Dockerfile's entry): one project on
DuckDB files, one on the shared PostgreSQL store.

Within about three minutes it shows, for both stores:
- automation refreshes every metric's newest partition, all metrics of a location in one run
  per cron tick;
- each alert event reaches a healthy channel exactly once, while a channel that hangs until
  its (maximal) deadline is retried with backoff rather than every tick, no dispatch tick runs
  into Dagster's 60 s limit, and after it recovers the channel gets each event once;
- pools hold: a run that needs a metric while another run holds its slot waits for it, and no
  run logs a lock error;
- reports written by the run workers open from the http address in their metadata
  (`report_base_url`);
- a run SIGKILLed mid-way (other metrics written, one blocked in a slow source query) leaves the
  stored tables as they were, its pool slot is freed by the daemon's run monitoring, and the
  next run completes with every partition whole.

Time is real: the metrics refresh on cron `* * * * *`, and the data is written around now so
that the newest partition holds complete intervals with a fresh anomaly in them.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import psycopg
import pytest
from dagster._core.scheduler.instigation import TickStatus  # not re-exported by dagster

from detectkit_dagster.project import load_project
from detectkit_dagster.schemas import TABLE_SCHEMAS
from detectkit_dagster.storage import ArrowStream, open_storage
from detectkit_dagster.timegrid import floor_to_grid, utc_now

from support.deployment import BIN, Deployment, create_database, new_deployment

pytestmark = pytest.mark.slow

INTERVAL = timedelta(minutes=10)
GATE = 4242  # the advisory lock the slow metrics' query waits on while the test holds it
HANG_SECONDS = 45.0  # longer than the hung channel's deadline: it never answers in time
# The shipped instance file polls every 30 s and frees a dead run's slots 30 s after it ended;
# shorter here so the test need not wait for minutes.
MONITORING = {"run_monitoring": {"poll_interval_seconds": 5, "free_slots_after_run_end_seconds": 5}}
TABLES = ("datapoints", "detections", "alerts", "report")
LOCK_ERRORS = ("could not set lock", "conflicting lock", "lock on file", "database is locked")


# -- the channels: a receiver that counts, and one that hangs until told to recover -----------


@dataclass
class Receiver:
    """Records every request by path and event id. The first `hang_first` requests of each path
    are read and never answered (the client gives up at its deadline): a channel that hangs,
    then recovers."""

    hang_first: int = 0
    answered: list[tuple[str, str, float]] = field(default_factory=list)  # (path, event id, time)
    unanswered: list[tuple[str, str, float]] = field(default_factory=list)

    def __post_init__(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                entry = (self.path, self.headers.get("X-Detectkit-Event-Id", ""), time.time())
                if sum(u[0] == self.path for u in receiver.unanswered) < receiver.hang_first:
                    receiver.unanswered.append(entry)
                    time.sleep(HANG_SECONDS)
                    self.close_connection = True
                    return
                receiver.answered.append(entry)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{path}"

    def counts(self, path: str) -> Counter:
        return Counter(event for p, event, _ in self.answered if p == f"/{path}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ReportServer:
    """The project's reports folder over http, as a web server or bucket would serve it."""

    def __init__(self, folder: Path):
        handler = functools.partial(QuietFiles, directory=str(folder))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.read().decode()


# -- the projects ---------------------------------------------------------------------------


METRIC = """\
name: {name}
interval: 10min
loading_start_time: "{start:%Y-%m-%d %H:%M:%S}"
{profile}query: |
  SELECT ts, value FROM src{gate}
  WHERE metric = '{name}' AND ts >= TIMESTAMP '{{{{ dtk_start_time }}}}' AND ts < TIMESTAMP '{{{{ dtk_end_time }}}}'
query_columns: {{timestamp: ts, metric: value}}
detectors:
  - type: manual_bounds
    params: {{upper_bound: 50}}
  - type: zscore
    params: {{window_size: 12, min_samples: 6, threshold: 3.0}}
alerting:
  - channels: [healthy, hung]
    min_detectors: 1
    consecutive_anomalies: 1
    notify_on_recovery: true
dagster:
  cron: "* * * * *"
"""
GATED = f", (SELECT pg_advisory_xact_lock_shared({GATE})) AS gate"


@dataclass
class Location:
    name: str
    root: Path
    metrics: list[str]
    anomaly: datetime
    env: dict[str, str] = field(default_factory=dict)

    @property
    def slow(self) -> str:
        return self.metrics[-1]


def series(names: list[str], start: datetime, anomaly: datetime) -> pl.DataFrame:
    """Every metric at 10 on the grid from a day before `start` to two hours ahead (rows after
    now are not loaded until complete), 100 at the anomaly."""
    stamps = pl.datetime_range(start - timedelta(days=1), utc_now() + timedelta(hours=2), INTERVAL,
                               time_unit="ms", eager=True)
    return pl.concat(pl.DataFrame({"metric": name, "ts": stamps}) for name in names).with_columns(
        value=pl.when(pl.col("ts") == anomaly).then(100.0).otherwise(10.0))


def write_location(work: Path, name: str, prefix: str, receiver: Receiver, hung: Receiver, gate_dsn: str,
                   start: datetime, anomaly: datetime, store: str) -> Location:
    root = work / name
    metrics = [f"{prefix}{i}" for i in range(3)] + [f"{prefix}_slow"]
    (root / "metrics").mkdir(parents=True)
    (root / "data").mkdir()
    frame = series(metrics, start, anomaly)
    with duckdb.connect(str(root / "data" / "source.duckdb")) as con:
        con.register("incoming", ArrowStream(frame.filter(pl.col("metric") != metrics[-1])))
        con.execute("CREATE TABLE src AS SELECT * FROM incoming")
    with psycopg.connect(gate_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE IF NOT EXISTS src (metric text, ts timestamp, value double precision)")
        with con.cursor().copy("COPY src FROM STDIN") as copy:
            for row in frame.filter(pl.col("metric") == metrics[-1]).iter_rows():
                copy.write_row(row)
    gate = psycopg.conninfo.conninfo_to_dict(gate_dsn)
    (root / "profiles.yml").write_text(f"""\
default_profile: local
profiles:
  local: {{type: duckdb, path: data/source.duckdb}}
  gate: {{type: postgres, host: "{gate['host']}", port: {gate['port']}, user: {gate['user']}, dbname: {gate['dbname']}}}
alert_channels:
  healthy: {{type: webhook, format: json, webhook_url: "{receiver.url(name)}"}}
  hung: {{type: webhook, format: json, webhook_url: "{hung.url(name)}", timeout_seconds: 30}}
""")
    (root / "detectkit_project.yml").write_text(f"name: {name}\n{store}")
    for metric in metrics:
        slow = metric == metrics[-1]
        (root / "metrics" / f"{metric}.yml").write_text(METRIC.format(
            name=metric, start=start, profile="profile: gate\n" if slow else "", gate=GATED if slow else ""))
    return Location(name, root, metrics, anomaly)


def stored(location: Location) -> dict[tuple[str, str], pl.DataFrame]:
    """Every stored table of every metric, as a frame in a stable order."""
    storage = open_storage(load_project(location.root))
    tables = {}
    for metric in location.metrics:
        store = storage.metric(metric)
        for table in ("datapoints", "detections", "alerts"):
            frame = store.read_range(table, schema=TABLE_SCHEMAS[table])
            tables[(metric, table)] = frame.sort(frame.columns)
    return tables


# -- watching the deployment ------------------------------------------------------------------


def wait_for(deployment: Deployment, ready, what: str, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        deployment.check_alive()
        value = ready()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {name}\n{deployment.log_tail(name, 3000)}" for name in deployment.processes)
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{logs}")
        time.sleep(1)


def runs_of(instance: dg.DagsterInstance, location: str) -> list[dg.DagsterRun]:
    runs = [r.dagster_run for r in instance.get_run_records(ascending=True)]
    return [r for r in runs if r.remote_job_origin and r.remote_job_origin.location_name == location]


def automation_runs(instance, location: str) -> list[dg.DagsterRun]:
    return [r for r in runs_of(instance, location) if r.tags.get("dagster/sensor_name") == "detectkit_automation"]


def after(runs: list[dg.DagsterRun], run: dg.DagsterRun) -> list[dg.DagsterRun]:
    """The runs created after `run` (`runs` oldest first)."""
    ids = [r.run_id for r in runs]
    return runs[ids.index(run.run_id) + 1:]


def worker_pid(instance, run_id: str) -> int | None:
    starts = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
    return starts[0].dagster_event.pid if starts else None


def gated_queries(gate_dsn: str) -> int:
    with psycopg.connect(gate_dsn, autocommit=True) as con:
        return con.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                           "AND query LIKE '%pg_advisory_xact_lock_shared%'").fetchone()[0]


def dispatch_ticks(instance, location: str) -> list:
    state = next(s for s in instance.all_instigator_state() if s.name == "detectkit_alert_dispatch"
                 and s.origin.repository_origin.code_location_origin.location_name == location)
    return instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=100)


def observations(instance, location: Location, channel: str) -> list[dict]:
    """The dispatch records of one channel (one per attempt), oldest first."""
    found = []
    for metric in location.metrics:
        records = instance.fetch_observations(dg.AssetKey([metric, "alerts"]), limit=1000).records
        for record in records:
            meta = record.asset_observation.metadata
            if meta.get("channel") and meta["channel"].value == channel:
                found.append({k: v.value for k, v in meta.items()} | {"stored_at": record.timestamp})
    return sorted(found, key=lambda o: o["stored_at"])


def sendable_events(location: Location) -> set[str]:
    tables = stored(location)
    return {e for m in location.metrics for e in
            tables[(m, "alerts")].filter(pl.col("sendable"))["event_id"].to_list()}


# -- the test -------------------------------------------------------------------------------------


def test_daemon_launched_runs_refresh_dispatch_once_hold_pools_and_survive_a_killed_run(
        postgres, tmp_path, monkeypatch):
    now = utc_now()
    start = datetime(now.year, now.month, now.day)
    if now < start + INTERVAL + timedelta(seconds=15):
        # The first interval of the UTC day is not complete yet: the newest partition holds no
        # point until it is.
        time.sleep((start + INTERVAL + timedelta(seconds=15) - now).total_seconds())
    anomaly = floor_to_grid(utc_now(), 600) - INTERVAL  # the newest complete point: a fresh alert
    tag = os.urandom(4).hex()
    gate_dsn = create_database(postgres, f"gate_{tag}")
    store_dsn = create_database(postgres, f"store_{tag}")
    receiver, hung = Receiver(), Receiver(hang_first=1)
    deployment = new_deployment(tmp_path / "deployment", postgres, f"dagster_{tag}", MONITORING)
    for key, value in deployment.env.items():
        if key.startswith("DAGSTER_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("DETECTKIT_STORE_DSN", store_dsn)
    reports = ReportServer(tmp_path / "files" / "reports")
    locations = [
        write_location(tmp_path, "files", "f", receiver, hung, gate_dsn, start, anomaly,
                       f"report_base_url: {reports.url}\n"),
        write_location(tmp_path, "shared", "s", receiver, hung, gate_dsn, start, anomaly,
                       "storage: {type: postgres, dsn: \"${DETECTKIT_STORE_DSN}\"}\n"),
    ]
    locations[1].env["DETECTKIT_STORE_DSN"] = store_dsn
    gate_holder = None
    try:
        # What a deployment does once per change of metrics: one slot per metric pool.
        pools = [subprocess.Popen([str(BIN / "detectkit-dagster"), "pools", "--project-dir", str(loc.root)],
                                  env={**deployment.env, **loc.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for loc in locations]
        deployment.start_code_servers({loc.name: (loc.root, loc.env) for loc in locations})
        for command in pools:
            out, err = command.communicate(timeout=120)
            assert command.returncode == 0 and "4 pool(s) set to 1 slot(s)" in out, err
        deployment.start_daemon()
        instance = dg.DagsterInstance.get()

        # 1. Automation: the newest partition of every metric's chain, all metrics of a location
        # in each run (a fresh install loads at once).
        def refreshed(runs: list[dg.DagsterRun]) -> bool:
            done = [r for r in runs if r.status == dg.DagsterRunStatus.SUCCESS]
            return {k.path[-1] for r in done for k in r.asset_selection} >= set(TABLES)

        wait_for(deployment, lambda: all(refreshed(automation_runs(instance, loc.name)) for loc in locations),
                 "automation to refresh every table of each location", 180)
        partition = start.strftime("%Y-%m-%d")
        for location in locations:
            for run in automation_runs(instance, location.name):
                assert run.tags.get("dagster/partition") == partition
                assert {key.path[0] for key in run.asset_selection} == set(location.metrics)
        before = {loc.name: stored(loc) for loc in locations}
        for location in locations:
            for metric in location.metrics:
                events = before[location.name][(metric, "alerts")]
                assert anomaly in events.filter(pl.col("kind") == "anomaly")["timestamp"].to_list(), metric

        # 2. A run killed mid-way: hold the gate, so the next cron run of each location writes
        # its other metrics and then waits in the slow metric's query.
        gate_holder = psycopg.connect(gate_dsn, autocommit=True)
        gate_holder.execute(f"SELECT pg_advisory_lock({GATE})")
        wait_for(deployment, lambda: gated_queries(gate_dsn) == len(locations),
                 "both locations' runs to wait in the slow metric's query", 150)
        blocked = [next(r for r in automation_runs(instance, loc.name) if r.status == dg.DagsterRunStatus.STARTED)
                   for loc in locations]
        # Meanwhile a second run needs the blocked metric too: it must wait for the pool slot.
        launch = subprocess.run(
            [str(BIN / "dagster"), "job", "launch", "-w", str(deployment.home / "workspace.yaml"),
             "-l", "files", "-j", "clean"], env=deployment.env, capture_output=True, text=True, timeout=120)
        assert launch.returncode == 0, launch.stderr
        clean = wait_for(deployment, lambda: next((r for r in runs_of(instance, "files") if r.job_name == "clean"),
                                                  None), "the clean run", 30)
        slow_pool = f"detectkit_{locations[0].slow}"

        def clean_waits():
            return any(f"blocked by limit for pool {slow_pool}" in (e.message or "")
                       for e in instance.all_logs(clean.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT))

        wait_for(deployment, clean_waits, "the clean run to wait for the slow metric's pool", 90)
        assert instance.get_run_by_id(clean.run_id).status == dg.DagsterRunStatus.STARTED
        mid_way = {loc.name: stored(loc) for loc in locations}
        for run in blocked:
            os.kill(worker_pid(instance, run.run_id), signal.SIGKILL)
        gate_holder.close()
        gate_holder = None
        for run in blocked:
            wait_for(deployment, lambda: instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE,
                     "the killed run to be marked failed", 60)
        # Nothing the killed runs were doing is left half-done: every table is as it was.
        for location in locations:
            after_kill = stored(location)
            for key, frame in mid_way[location.name].items():
                assert after_kill[key].equals(frame), (location.name, key)
        # The killed run's slot is freed by the daemon: the waiting run goes on and finishes.
        wait_for(deployment, lambda: instance.get_run_by_id(clean.run_id).status == dg.DagsterRunStatus.SUCCESS,
                 "the clean run to get the slot and finish", 90)

        # 3. The next cron run completes every metric.
        wait_for(deployment, lambda: all(refreshed(after(automation_runs(instance, loc.name), run))
                                         for loc, run in zip(locations, blocked)),
                 "successful runs of every table after the kill", 180)
        def rerun_start(location: Location, run) -> float:
            reruns = after(automation_runs(instance, location.name), run)
            loaded = next(r for r in reruns if r.status == dg.DagsterRunStatus.SUCCESS
                          and any(k.path[-1] == "datapoints" for k in r.asset_selection))
            return instance.get_run_record_by_id(loaded.run_id).start_time

        def whole() -> bool:
            # A rerun may still be under way: give it time; a partition that never becomes
            # whole fails below.
            try:
                for location, run in zip(locations, blocked):
                    check_whole(location, rerun_start(location, run))
            except AssertionError:
                return False
            return True

        wait_for(deployment, whole, "every partition whole after the re-run", 150)
        # Reports written by the run workers open from the web address in their metadata, with
        # the plotly.js they share.
        for metric in locations[0].metrics:
            (record,) = instance.fetch_materializations(dg.AssetKey([metric, "report"]), limit=1).records
            url = record.asset_materialization.metadata["dagster/uri"].value
            assert url.startswith(reports.url)
            page = fetch(url)
            script = re.search(r'<script src="([^"]*plotly[^"]*)"', page).group(1)
            assert metric in page and "plotly" in fetch(urllib.parse.urljoin(url, script))[:500].lower()

        # 4. Dispatch: the hung channel failed once at its deadline, was left alone for its
        # backoff while ticks went on, and then got every event once; the healthy one got each
        # exactly once, whatever the runs re-materialized.
        def all_delivered():
            # Read each time: a new point completing during the test may add an event (a recovery).
            expected = {loc.name: sendable_events(loc) for loc in locations}
            return all(set(receiver.counts(n)) == events == set(hung.counts(n)) for n, events in expected.items()
                       ) and expected

        expected = wait_for(deployment, all_delivered, "every event at both channels", 150)
        # One more dispatch tick after the last re-materialization of the alerts: nothing again.
        last = max(r.timestamp for loc in locations for m in loc.metrics for r in instance.fetch_materializations(
            dg.AssetKey([m, "alerts"]), limit=1).records)
        wait_for(deployment, lambda: all(any(t.timestamp > last and t.status != TickStatus.STARTED
                                             for t in dispatch_ticks(instance, loc.name)) for loc in locations),
                 "a dispatch tick after the last alerts", 90)
        for location in locations:
            assert len(expected[location.name]) >= len(location.metrics)
            assert set(receiver.counts(location.name)) <= sendable_events(location)
            assert set(receiver.counts(location.name).values()) == {1}, receiver.counts(location.name)
            assert set(hung.counts(location.name).values()) == {1}, hung.counts(location.name)
            assert len([u for u in hung.unanswered if u[0] == f"/{location.name}"]) == 1
            attempts = observations(instance, location, "hung")
            (failed,) = [o for o in attempts if o["outcome"] == "failed"]
            assert "timed out" in failed["error"] and failed["will_retry"]
            retried = min(o["stored_at"] for o in attempts if o["outcome"] == "sent")
            ticks = dispatch_ticks(instance, location.name)
            skipped = [t for t in ticks if failed["stored_at"] < t.timestamp and t.end_timestamp < retried]
            assert skipped, "the hung channel was retried on the very next tick"
            # No tick ran into Dagster's deadline (a failed tick would not have saved its cursor).
            assert all(t.status != TickStatus.FAILURE for t in ticks), [t.error for t in ticks if t.error]

        # 5. Pools held: no run of either location logged a lock conflict.
        for location in locations:
            for run in runs_of(instance, location.name):
                text = " ".join((e.message or "") + " " + str(e.dagster_event.event_specific_data
                                                               if e.dagster_event else "")
                                for e in instance.all_logs(run.run_id)).lower()
                assert not any(error in text for error in LOCK_ERRORS), run.run_id
        statuses = Counter(r.status for loc in locations for r in runs_of(instance, loc.name))
        assert statuses[dg.DagsterRunStatus.FAILURE] == len(blocked)
        instance.dispose()
    finally:
        if gate_holder is not None:
            gate_holder.close()
        deployment.stop()
        for server in (receiver, hung, reports):
            server.close()


def check_whole(location: Location, rerun_started: float) -> None:
    """Every metric's partition holds each complete interval once, as the source has it, and
    each detector's row for each point."""
    complete_end = floor_to_grid(datetime.fromtimestamp(rerun_started, UTC).replace(tzinfo=None), 600)
    tables = stored(location)
    for metric in location.metrics:
        points = tables[(metric, "datapoints")]
        stamps = points["timestamp"].to_list()
        assert stamps == sorted(set(stamps)), metric
        assert stamps[0] == stamps[0].replace(hour=0, minute=0) and stamps[-1] >= complete_end - INTERVAL, metric
        assert len(stamps) == (stamps[-1] - stamps[0]) // INTERVAL + 1, metric
        assert points.filter(pl.col("value") != pl.when(pl.col("timestamp") == location.anomaly)
                             .then(100.0).otherwise(10.0)).is_empty(), metric
        detections = tables[(metric, "detections")]
        assert detections.height == 2 * points.height, metric
