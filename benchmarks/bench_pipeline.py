"""End to end through Dagster: backfills and ticks of generated 10-minute metrics.

    .venv/bin/python benchmarks/bench_pipeline.py                 # every scenario
    .venv/bin/python benchmarks/bench_pipeline.py year tick       # some of them

Each metric: one 10-minute series in a local DuckDB table (daily and weekly rhythm, noise,
incidents), three detectors (mad window 2016 with hour seasonality, zscore 288, iqr 1008) and
one alert rule, as in the detectkit 0.29 measurements quoted below. Every scenario runs in its
own process on a persistent Dagster instance (DAGSTER_HOME in a temporary folder: the SQLite
instance the project's commands write unless the scenario says otherwise) and prints wall time,
the time of each step, the events the run wrote to the instance and the peak RSS of the process.

Scenarios:
  year       1 year (366 daily partitions) x 1 metric, one single-run range, report included
  year-pg    the same on a PostgreSQL instance (a private server, as the tests start one)
  year-stock the same on Dagster's own SQLite storage, which stores events one at a time
  fleet      1 month x 50 metrics, one single-run range per granularity
  fleet-pg   the same on a PostgreSQL instance
  tick       the newest partition after 3 months and after 2 years of stored history
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

# detectkit 0.29 on this machine (dtk run, PostgreSQL state), for the table
DETECTKIT = {
    "year": "71-74 s, 75 MB",
    "year-pg": "71-74 s, 75 MB",
    "year-stock": "71-74 s, 75 MB",
    "fleet": "283-307 s",
    "fleet-pg": "283-307 s",
    "tick 3 months": "0.71 s (process)",
    "tick 2 years": "0.81-0.86 s (1 year, process)",
}
TARGET = {"year": "<= 20 s, <= 400 MB", "year-pg": "<= 20 s, <= 400 MB", "year-stock": "(for comparison)",
          "fleet": "<= 90 s", "fleet-pg": "<= 90 s", "tick 3 months": "<= 0.5 s steps", "tick 2 years": "within 1.2x of 3 months"}

# The detectors and the alert rule of detectkit 0.29's measured runs (also bench_fleet.py).
MEASURED_SETUP = """\
seasonality_columns: [hour]
detectors:
  - type: mad
    params: {{window_size: 2016, threshold: 4.0, seasonality_components: [hour]}}
  - type: zscore
    params: {{window_size: 288, threshold: 4.0}}
  - type: iqr
    params: {{window_size: 1008, threshold: 3.0}}
alerting:
  - channels: [inbox]
    min_detectors: 2
    consecutive_anomalies: 3
    alert_cooldown: 1h
    notify_on_recovery: true
"""

METRIC = """\
name: {name}
interval: 10min
loading_start_time: "{start}"
query: |
  SELECT ts, value FROM src_{table}
  WHERE ts >= TIMESTAMP '{{{{ dtk_start_time }}}}' AND ts < TIMESTAMP '{{{{ dtk_end_time }}}}'
query_columns: {{timestamp: ts, metric: value}}
""" + MEASURED_SETUP


# -- the project ------------------------------------------------------------------------------


def write_project(root: Path, metrics: int, days: int, now: datetime) -> None:
    import duckdb
    import numpy as np
    import polars as pl

    from detectkit_dagster.storage import ArrowStream

    start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    (root / "metrics").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "profiles.yml").write_text("alert_channels:\n  inbox: {type: outbox}\n")
    (root / "detectkit_project.yml").write_text("name: bench\n")
    stamps = np.arange(np.datetime64(start, "ms"), np.datetime64(now, "ms"), np.timedelta64(600, "s"))
    t = np.arange(len(stamps))
    with duckdb.connect(str(root / "data" / "source.duckdb")) as con:
        for m in range(metrics):
            rng = np.random.default_rng(m)
            values = (1000 + 300 * np.sin(2 * np.pi * t / 144) + 100 * np.sin(2 * np.pi * t / 1008)
                      + rng.normal(0, 30, len(t)))
            for at in rng.choice(len(t), max(1, len(t) // 5000), replace=False):
                values[at:at + 12] *= 0.05  # two-hour outages
            con.register("incoming", ArrowStream(pl.DataFrame({"ts": stamps, "value": values})))
            con.execute(f"CREATE TABLE src_{m} AS SELECT * FROM incoming")
            con.unregister("incoming")
            (root / "metrics" / f"m{m:03d}.yml").write_text(
                METRIC.format(name=f"m{m:03d}", table=m, start=start.strftime("%Y-%m-%d %H:%M:%S")))


def postgres_instance_yaml() -> tuple[str, callable]:
    from support.postgres import start_server

    server, stop = start_server()
    # The driver named explicitly: with SQLAlchemy 2.1 a bare postgresql:// URL means psycopg 3,
    # which dagster-postgres' event notifications do not work with.
    url = f"postgresql+psycopg2://{server.user}@{server.host}:{server.port}/{server.dbname}"
    yaml = textwrap.dedent(f"""\
        storage:
          postgres:
            postgres_url: {url}
        telemetry:
          enabled: false
        """)
    return yaml, stop


# -- one scenario in this process -----------------------------------------------------------


def run_scenario(name: str) -> dict:
    import dagster as dg

    from detectkit_dagster.cli.common import DAGSTER_YAML
    from detectkit_dagster.defs.runner import materialize_partitions

    now = datetime.utcnow().replace(second=0, microsecond=0)
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    home = work / "dagster_home"
    home.mkdir()
    stop = None
    yaml = DAGSTER_YAML
    if name.endswith("-pg"):
        yaml, stop = postgres_instance_yaml()
    elif name.endswith("-stock"):
        yaml = "telemetry:\n  enabled: false\n"
    (home / "dagster.yaml").write_text(yaml)
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        if name in ("year", "year-pg", "year-stock"):
            write_project(work / "project", metrics=1, days=365, now=now)
            return measure(dg, work / "project", days=366)
        if name in ("fleet", "fleet-pg"):
            write_project(work / "project", metrics=50, days=30, now=now)
            return measure(dg, work / "project", days=31)
        if name.startswith("tick"):
            days = 91 if name == "tick-3m" else 731
            write_project(work / "project", metrics=1, days=days, now=now)
            with dg.DagsterInstance.get() as instance:
                materialize_partitions(work / "project", instance, days=days + 1)
            return measure(dg, work / "project", days=0)  # the partition in progress only
        raise SystemExit(f"unknown scenario {name}")
    finally:
        if stop:
            stop()


def measure(dg, root: Path, days: int) -> dict:
    from detectkit_dagster.defs.runner import materialize_partitions

    with dg.DagsterInstance.get() as instance:
        began = time.perf_counter()
        runs = materialize_partitions(root, instance, days=days)
        wall = time.perf_counter() - began
        steps: dict[str, float] = {}
        events = 0
        for run_id in runs:
            records = instance.all_logs(run_id)
            events += len(records)
            started = {}
            for record in records:
                ev = record.dagster_event
                if ev is None or ev.step_key is None:
                    continue
                if ev.event_type_value == "STEP_START":
                    started[ev.step_key] = record.timestamp
                elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and ev.step_key in started:
                    table = ev.step_key.rsplit("__", 1)[-1]
                    steps[table] = steps.get(table, 0.0) + record.timestamp - started[ev.step_key]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"wall": wall, "steps": steps, "events": events, "runs": len(runs), "rss_mb": rss}


# -- the table ------------------------------------------------------------------------------


def in_subprocess(name: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"scenario {name} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", default=["year", "year-pg", "fleet", "tick"])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_scenario(args.one)))
        return
    print(f"{'scenario':<16} {'wall':>8} {'steps (s)':<58} {'events':>7} {'runs':>4} {'RSS':>8}   "
          f"target / detectkit 0.29")
    ticks = {}
    for name in args.scenarios:
        for scenario in (["tick-3m", "tick-2y"] if name == "tick" else [name]):
            r = in_subprocess(scenario)
            label = {"tick-3m": "tick 3 months", "tick-2y": "tick 2 years"}.get(scenario, scenario)
            steps = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["steps"].items()))
            print(f"{label:<16} {r['wall']:>7.2f}s {steps:<58} {r['events']:>7} {r['runs']:>4} "
                  f"{r['rss_mb']:>6.0f}MB   {TARGET[label]} / {DETECTKIT[label]}", flush=True)
            if scenario.startswith("tick"):
                ticks[scenario] = sum(r["steps"].values())
    if len(ticks) == 2:
        print(f"tick step time, 2 years / 3 months of history: {ticks['tick-2y'] / ticks['tick-3m']:.2f}x")


if __name__ == "__main__":
    main()
