"""A fleet of metrics through a real deployment on this machine: the shipped deploy/dagster.yaml on
a private PostgreSQL server, one code server (`dagster api grpc`) and a `dagster-daemon` that
evaluates the automation sensor and launches each run as its own process.

    .venv/bin/python benchmarks/bench_fleet.py                      # 300 metrics, 2 ticks, cron */10
    .venv/bin/python benchmarks/bench_fleet.py --metrics 30 --ticks 2 --cron-minutes 2 --pgbouncer

Each metric: a 10-minute series in one local DuckDB source table (daily rhythm, noise, outages),
three detectors (mad window 2016 with hour seasonality, zscore 288, iqr 1008) and one alert rule.
Warm-up: the last 15 days (the context of the widest window) in one single-run range per
partition granularity (defs/runner.py materialize_recent), in this process on the same instance.
Then the daemon takes over, on the metrics' own cron `*/10 * * * *`; `--cron-minutes 2` shortens
the wall time of small fleets: every tick still does a 10-minute metric's full work (load the
newest partition, detect, replay alerts, write the report), so the figures are per tick (the
daemon's own cost is per evaluation, so shorter cycles understate it per tick).

Printed, over `--ticks` cron cycles after the first automated tick:
- refreshed: metrics whose newest partition's alerts were materialized within a tick's cycle,
  and within the metric's 10-minute interval;
- lag p50/p95/max: from the cron tick to each metric's alerts materialization;
- runs per tick: runs the automation launched per cron tick;
- CPU: process CPU seconds (daemon, code server and its run workers, PostgreSQL) per tick and in
  cores over the wall time, and CPU seconds per metric tick against detectkit 0.29's 0.7-0.9 s
  per metric tick as a process (about 700 metrics per 10 minutes on one core).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from bench_pipeline import MEASURED_SETUP  # noqa: E402  (the same metric as the pipeline benchmark)

INTERVAL = timedelta(minutes=10)
HISTORY_DAYS = 15
DETECTKIT_PER_METRIC_TICK = (0.7, 0.9)  # seconds of one process per metric tick

METRIC = """\
name: {name}
interval: 10min
loading_start_time: "{start:%Y-%m-%d %H:%M:%S}"
query: |
  SELECT ts, value FROM src
  WHERE metric = {index} AND ts >= TIMESTAMP '{{{{ dtk_start_time }}}}' AND ts < TIMESTAMP '{{{{ dtk_end_time }}}}'
query_columns: {{timestamp: ts, metric: value}}
""" + MEASURED_SETUP + """\
dagster:
  cron: "*/{cron} * * * *"
"""


def write_project(root: Path, metrics: int, now: datetime, store: str, cron_minutes: int) -> None:
    import duckdb
    import numpy as np
    import polars as pl

    from detectkit_dagster.storage import ArrowStream

    start = (now - timedelta(days=HISTORY_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    (root / "metrics").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "profiles.yml").write_text("alert_channels:\n  inbox: {type: outbox}\n")
    storage = 'storage: {type: postgres, dsn: "${DETECTKIT_STORE_DSN}"}\n' if store == "postgres" else ""
    (root / "detectkit_project.yml").write_text(f"name: fleet\n{storage}")
    # Two hours past now: rows are loaded once their interval is complete.
    stamps = np.arange(np.datetime64(start, "ms"), np.datetime64(now + timedelta(hours=2), "ms"),
                       np.timedelta64(600, "s"))
    t = np.arange(len(stamps))
    frames = []
    for m in range(metrics):
        rng = np.random.default_rng(m)
        values = 1000 + 300 * np.sin(2 * np.pi * t / 144) + rng.normal(0, 30, len(t))
        for at in rng.choice(len(t), 2, replace=False):
            values[at:at + 6] *= 0.05  # one-hour outages
        frames.append(pl.DataFrame({"metric": np.full(len(t), m, dtype=np.int32), "ts": stamps, "value": values}))
        (root / "metrics" / f"m{m:03d}.yml").write_text(
            METRIC.format(name=f"m{m:03d}", index=m, start=start, cron=cron_minutes))
    with duckdb.connect(str(root / "data" / "source.duckdb")) as con:
        con.register("incoming", ArrowStream(pl.concat(frames)))
        con.execute("CREATE TABLE src AS SELECT * FROM incoming ORDER BY metric, ts")


# -- a connection pooler ------------------------------------------------------------------------


def start_pgbouncer(server):
    """Debian's pgbouncer in transaction mode in front of `server`: Dagster's storage opens a
    connection per call, and a pooler keeps PostgreSQL from starting a backend for each."""
    import shutil
    import subprocess

    from support.postgres import _as_server_user
    from support.servers import free_port, wait_until

    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="detectkit-pgbouncer-"))
    (folder / "users.txt").write_text(f'"{server.user}" ""\n')
    (folder / "pgbouncer.ini").write_text(f"""\
[databases]
* = host={server.host} port={server.port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "users.txt"}
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
logfile = {folder / "pgbouncer.log"}
""")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        for child in folder.iterdir():
            shutil.chown(child, "postgres")
    process = subprocess.Popen(_as_server_user([binary, str(folder / "pgbouncer.ini")]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None,
               "pgbouncer", timeout=30)

    def stop():
        process.terminate()
        process.wait(30)
        shutil.rmtree(folder, ignore_errors=True)

    return port, process.pid, stop


# -- CPU of process trees ---------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and every descendant, living or reaped (user + system)."""
    from support.servers import process_tree

    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for each in process_tree(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
        total += utime + stime + (cutime + cstime if each == pid else 0)
    return total / tick


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


# -- the run ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def next_tick(after: datetime, cron_minutes: int) -> datetime:
    minute = (after.minute // cron_minutes + 1) * cron_minutes
    return after.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=minute)


def wait_until_time(moment: datetime, deployment) -> None:
    from detectkit_dagster.timegrid import utc_now

    while utc_now() < moment:
        deployment.check_alive()
        time.sleep(min(5.0, max(0.1, (moment - utc_now()).total_seconds())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metrics", type=int, default=300)
    parser.add_argument("--ticks", type=int, default=2, help="cron cycles measured (after the first one)")
    parser.add_argument("--cron-minutes", type=int, default=10, choices=(1, 2, 5, 10))
    parser.add_argument("--store", choices=("duckdb", "postgres"), default="duckdb")
    parser.add_argument("--pgbouncer", action="store_true",
                        help="Dagster's storage through Debian's pgbouncer (transaction pooling)")
    args = parser.parse_args()
    cron = args.cron_minutes
    warnings.simplefilter("ignore")  # Dagster's preview/beta notes, once per metric

    import dagster as dg

    from detectkit_dagster.defs.runner import materialize_recent
    from detectkit_dagster.project import load_project
    from detectkit_dagster.timegrid import utc_now
    from support.deployment import create_database, new_deployment
    from support.postgres import start_server

    in_progress = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    server, stop_server = start_server()
    deployment = stop_bouncer = None
    try:
        deployment = new_deployment(work, server)
        pids = {"postgres": server.pid}
        if args.pgbouncer:
            port, pids["pgbouncer"], stop_bouncer = start_pgbouncer(server)
            deployment.env["DAGSTER_PG_PORT"] = str(port)
        os.environ.update({k: v for k, v in deployment.env.items() if k.startswith("DAGSTER_")})
        extra = {}
        if args.store == "postgres":
            extra["DETECTKIT_STORE_DSN"] = create_database(server, "store")
            os.environ.update(extra)
        now = utc_now()
        root = work / "project"
        began = time.perf_counter()
        write_project(root, args.metrics, now, args.store, cron)
        print(f"{args.metrics} metrics, {HISTORY_DAYS} days of 10-minute history: "
              f"source written in {time.perf_counter() - began:.1f} s", flush=True)

        instance = dg.DagsterInstance.get()
        began = time.perf_counter()
        runs = materialize_recent(load_project(root), instance, now - timedelta(days=HISTORY_DAYS))
        assert all(r.result.success for r in runs), "the warm-up failed"
        print(f"warm-up: {len(runs)} range run(s) of {sum(len(r.keys) for r in runs)} partitions in "
              f"{time.perf_counter() - began:.0f} s", flush=True)

        deployment.start_code_servers({"fleet": (root, extra)})
        deployment.start_daemon()
        pids |= {"daemon": deployment.processes["daemon"].pid,
                 "code server + run workers": deployment.processes["code-fleet"].pid}
        # The daemon's first evaluation, before the first tick, refreshes every metric it has not
        # seen yet and sets the automation's cursor.
        first = next_tick(utc_now() + timedelta(seconds=20), cron)
        wait_until_time(first, deployment)
        cpu_before, wall_before = cpu_snapshot(pids), time.monotonic()
        ticks = [first + timedelta(minutes=cron * i) for i in range(args.ticks)]
        end = ticks[-1] + timedelta(minutes=cron)
        wait_until_time(end, deployment)
        cpu_after, wall = cpu_snapshot(pids), time.monotonic() - wall_before
        # The lag of the last tick counts until its run is done (at most one interval).
        settle = utc_now() + INTERVAL
        while utc_now() < settle and instance.get_run_records(dg.RunsFilter(statuses=in_progress)):
            wait_until_time(utc_now() + timedelta(seconds=5), deployment)
        report(instance, load_project(root), ticks, cron, cpu_before, cpu_after, wall, args.metrics)
        instance.dispose()
    finally:
        if deployment is not None:
            deployment.stop()
        if stop_bouncer is not None:
            stop_bouncer()
        stop_server()


def report(instance, project, ticks, cron_minutes, cpu_before, cpu_after, wall, metrics) -> None:
    import dagster as dg

    cycle = cron_minutes * 60
    automation = [r for r in instance.get_run_records(ascending=True)
                  if r.dagster_run.tags.get("dagster/sensor_name") == "detectkit_automation"]
    runs_of_tick = [{r.dagster_run.run_id for r in automation
                     if epoch(t) <= r.create_timestamp.timestamp() < epoch(t) + cycle} for t in ticks]
    lags, in_cycle, in_interval = [], [0] * len(ticks), [0] * len(ticks)
    for metric in project.metrics:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey([metric.key, "alerts"]), after_timestamp=epoch(ticks[0])),
            limit=10 * len(ticks), ascending=True).records
        for index, (tick, run_ids) in enumerate(zip(ticks, runs_of_tick)):
            done = next((r.timestamp for r in records if r.run_id in run_ids), None)
            if done is None:
                continue
            lag = done - epoch(tick)
            lags.append(lag)
            in_cycle[index] += lag <= cycle
            in_interval[index] += lag <= INTERVAL.total_seconds()
    used = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
    total = sum(used.values())
    per_metric_tick = total / (len(ticks) * metrics)
    print(f"\nmeasured {len(ticks)} cron ticks (*/{cron_minutes} * * * *), {metrics} metrics, {wall:.0f} s wall")
    print(f"alerts refreshed per tick within the {cron_minutes}-minute cycle: {in_cycle}; "
          f"within the 10-minute interval: {in_interval} (of {metrics})")
    if lags:
        print(f"lag from cron tick to alerts: p50 {percentile(lags, 0.5):.1f} s, p95 {percentile(lags, 0.95):.1f} s, "
              f"max {max(lags):.1f} s")
    print(f"runs per tick: {[len(r) for r in runs_of_tick]}")
    for record in automation:
        run = record.dagster_run
        if record.create_timestamp.timestamp() < epoch(ticks[0]):
            continue
        took = (record.end_time or time.time()) - (record.start_time or record.create_timestamp.timestamp())
        steps = {k.path[-1] for k in run.asset_selection or ()}
        failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        first = failures[0].dagster_event.step_failure_data.error.message.strip()[:200] if failures else ""
        print(f"  run {run.run_id[:8]} created +{record.create_timestamp.timestamp() - epoch(ticks[0]):.0f} s, "
              f"{run.status.value}, {took:.0f} s, {len(run.asset_selection or ())} assets ({', '.join(sorted(steps))}), "
              f"{len(failures)} step failures {first}")
    for name, seconds in used.items():
        print(f"CPU {name}: {seconds / len(ticks):.1f} s per tick ({seconds / wall:.2f} cores)")
    print(f"CPU in all: {total / len(ticks):.1f} s per tick, {total / wall:.2f} of 2 cores; "
          f"{per_metric_tick:.3f} s per metric tick")
    low, high = DETECTKIT_PER_METRIC_TICK
    print(f"detectkit 0.29: {low}-{high} s per metric tick as a process, {600 / high:.0f}-{600 / low:.0f} "
          f"metrics per 10 minutes per core; here: {600 / per_metric_tick:.0f} per 10 minutes per core "
          f"({low / per_metric_tick:.1f}-{high / per_metric_tick:.1f}x)")


def epoch(moment: datetime) -> float:
    """Seconds since the epoch of a naive-UTC time."""
    return moment.replace(tzinfo=UTC).timestamp()


if __name__ == "__main__":
    main()
