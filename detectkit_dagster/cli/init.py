"""`detectkit-dagster init DIR`: a new project that runs as it is.

It holds one sample metric over an embedded DuckDB file with four weeks of generated orders
(a daily rhythm and a three-hour outage), a profiles.yml with commented examples for ClickHouse,
PostgreSQL and MySQL, a local outbox for alerts, and the workspace.yaml `dagster dev` reads
(pointing at a definitions.py that loads this folder, wherever Dagster is started from).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from .common import fail, prepare_dagster_home

HISTORY_DAYS = 28

METRIC = """\
# One metric: detectkit's metric format. Copy this file for more.
name: orders_per_hour
description: Orders placed per hour (sample data in data/source.duckdb).
interval: 1h
loading_start_time: "{start:%Y-%m-%d} 00:00:00"
seasonality_columns: [hour]
query: |
  SELECT time_bucket(INTERVAL 1 HOUR, created_at) AS timestamp, count(*) AS value
  FROM orders
  WHERE created_at >= TIMESTAMP '{{{{ dtk_start_time }}}}'
    AND created_at <  TIMESTAMP '{{{{ dtk_end_time }}}}'
  GROUP BY 1
detectors:
  - type: mad
    params:
      window_size: 336          # two weeks of hours
      threshold: 4.0
      seasonality_components: [hour]
alerting:
  channels: [outbox]
  direction: same
  consecutive_anomalies: 2
  notify_on_recovery: true
"""

PROFILES = """\
# Where metric SQL runs (profiles) and where alerts go (alert_channels).
# detectkit's profiles.yml loads here unchanged; secrets come from the environment.
default_profile: local
profiles:
  local:
    type: duckdb
    path: data/source.duckdb
  # warehouse:
  #   type: clickhouse              # native protocol; or postgres, mysql, mariadb
  #   host: clickhouse.internal
  #   port: 9000
  #   user: monitor
  #   password: "${{CLICKHOUSE_PASSWORD}}"
  #   data_database: analytics
  #   query_timeout: 300            # seconds: connecting, running and reading, in all
alert_channels:
  outbox:
    type: outbox                    # one JSON file per alert under outbox/
  # ops_slack:
  #   type: slack
  #   webhook_url: "${{SLACK_WEBHOOK_URL}}"
"""

PROJECT = """\
name: {name}
error_alerting:
  enabled: true
  channels: [outbox]
storage_dir: data/detectkit         # the stored tables: one DuckDB file per metric
reports_dir: reports
outbox_dir: outbox
"""

DEFINITIONS = """\
# The Dagster code location of this project: every metric in metrics/ becomes assets.
from pathlib import Path

from detectkit_dagster.defs import build_definitions

defs = build_definitions(Path(__file__).resolve().parent)  # this folder, wherever Dagster starts
"""

WORKSPACE = """\
load_from:
  - python_file: definitions.py
"""

GITIGNORE = "data/detectkit/\nreports/\noutbox/\n.dagster_home/\n"


def register(sub) -> None:
    parser = sub.add_parser("init", help="create a new project folder with a sample metric")
    parser.add_argument("dir", help="the folder to create (new or empty)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..timegrid import utc_now

    root = Path(args.dir).resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        return fail(f"{root} is not empty: init writes a new project only into a new or empty folder")
    start = (utc_now() - timedelta(days=HISTORY_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    files = {
        "metrics/orders_per_hour.yml": METRIC.format(start=start),
        "profiles.yml": PROFILES.format(),
        "detectkit_project.yml": PROJECT.format(name=project_name(root)),
        "definitions.py": DEFINITIONS,
        "workspace.yaml": WORKSPACE,
        ".gitignore": GITIGNORE,
    }
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    rows = write_sample_orders(root / "data" / "source.duckdb", start, utc_now())
    home = prepare_dagster_home(root)
    print(f"created project {project_name(root)!r} in {root}")
    for relative in (*files, "data/source.duckdb"):
        print(f"  {relative}" + (f"  ({rows:,} sample orders)" if relative.endswith(".duckdb") else ""))
    print("next:")
    print(f"  cd {root}")
    print(f"  detectkit-dagster run --from {start:%Y-%m-%d} --report   # all of it, through Dagster")
    print(f"  DAGSTER_HOME={home} dagster dev -w workspace.yaml   # the UI on http://127.0.0.1:3000")
    return 0


def project_name(root: Path) -> str:
    return re.sub(r"[^\w\- ]", "_", root.name) or "detectkit"


def write_sample_orders(path: Path, start: datetime, now: datetime) -> int:
    """Orders with a daily rhythm and a three-hour outage three days ago (deterministic)."""
    import duckdb
    import numpy as np
    import polars as pl

    from ..storage import ArrowStream

    hours = np.arange(np.datetime64(start, "h"), np.datetime64(now, "h") + 1)
    hour_of_day = hours.astype(np.int64) % 24
    rate = 40 + 25 * np.sin((hour_of_day - 8) / 24 * 2 * np.pi)
    outage = np.datetime64((now - timedelta(days=3)).replace(hour=13), "h")  # in the afternoon peak
    rate[(hours >= outage) & (hours < outage + 3)] = 2
    rng = np.random.default_rng(20261130)
    counts = rng.poisson(rate)
    offsets = rng.integers(0, 3_600_000, counts.sum()).astype("timedelta64[ms]")
    created = np.repeat(hours.astype("datetime64[ms]"), counts) + offsets
    created = created[created < np.datetime64(now, "ms")]
    frame = pl.DataFrame({"created_at": created, "amount": rng.gamma(2.0, 20.0, len(created)).round(2)})
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.register("incoming", ArrowStream(frame))
        con.execute("CREATE OR REPLACE TABLE orders AS SELECT * FROM incoming ORDER BY created_at")
    return frame.height
