"""The commands, each through Dagster on a temporary instance: what they print and what they store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from detectkit_dagster.cli import main
from detectkit_dagster.cli.demo import MARKER
from detectkit_dagster.defs.runner import RANGE_END, RANGE_START
from detectkit_dagster.storage import DuckDBMetricStore
from detectkit_dagster.timegrid import utc_now

from conftest import series

START = datetime(2024, 1, 1)
TEN = timedelta(minutes=10)

METRIC = """\
name: {name}
interval: 10min
loading_start_time: "2024-01-01 00:00:00"
query: SELECT * FROM {table} WHERE timestamp >= '{{{{ dtk_start_time }}}}' AND timestamp < '{{{{ dtk_end_time }}}}'
detectors:
  - type: mad
    params: {{window_size: 60, min_samples: 20, threshold: 3.0}}
alerting:
  channels: [inbox]
  consecutive_anomalies: 2
"""


@pytest.fixture(autouse=True)
def dagster_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("DETECTKIT_PROJECT_DIR", raising=False)
    return home


@pytest.fixture
def shop(project):
    """Two days of 10-minute points with a spike on the second day, a metric named with dashes."""
    values = 100 + np.random.default_rng(3).normal(0, 1, 288)
    values[200:204] = 160.0
    project.source_table("orders", series(START, 288, TEN, values=values))
    project.write("profiles.yml", """\
        alert_channels:
          inbox: {type: outbox}
        """)
    project.metric("orders", METRIC.format(name="orders-10min", table="orders"))
    return project


def instance_runs(home: Path) -> list:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_runs())


def test_run_materializes_the_range_as_one_run_and_prints_from_the_stored_tables(shop, dagster_home, capsys):
    code = main(["run", "--project-dir", str(shop.root), "--select", "orders-*",
                 "--from", "2024-01-01", "--to", "2024-01-03"])
    out = capsys.readouterr().out
    assert code == 0, out
    store = DuckDBMetricStore(shop.storage_dir, "orders_10min")
    points = store.read_range("datapoints")
    detections = store.read_range("detections")
    alerts = store.read_range("alerts")
    anomalies = int(detections["is_anomaly"].sum())
    assert points.height == 288 and anomalies > 0 and alerts.height > 0
    shown = alerts.filter(alerts["kind"] != "recovery").height
    assert (f"orders-10min: 2024-01-01 .. 2024-01-02 288 points (0 missing), {anomalies} anomalies, "
            f"{shown} alert") in out
    (run,) = instance_runs(dagster_home)
    assert run.tags[RANGE_START] == "2024-01-01" and run.tags[RANGE_END] == "2024-01-02"
    assert run.is_success


def test_run_defaults_to_the_newest_partition(shop, capsys):
    today = utc_now()
    assert main(["run", "--project-dir", str(shop.root)]) == 0
    out = capsys.readouterr().out
    # The source has no data for today: every complete interval so far is a missing point.
    found = re.search(rf"orders-10min: {today:%Y-%m-%d} (\d+) points? \((\d+) missing\)", out)
    assert found and found.group(1) == found.group(2), out


def test_run_reports_a_failure_in_one_line_and_exits_1(shop, capsys):
    shop.metric("broken", METRIC.format(name="broken", table="no_such_table"))
    code = main(["run", "--project-dir", str(shop.root), "--from", "2024-01-01", "--to", "2024-01-02"])
    out = capsys.readouterr().out
    assert code == 1
    assert "orders-10min: 2024-01-01 144 points" in out
    (failed,) = [line for line in out.splitlines() if line.startswith("broken:")]
    assert "FAILED loading of metric 'broken' failed" in failed and "no_such_table" in failed


def test_run_with_report_writes_one_page_for_the_range(shop, tmp_path, capsys):
    target = tmp_path / "out" / "orders.html"
    assert main(["run", "--project-dir", str(shop.root), "--from", "2024-01-01", "--to", "2024-01-03",
                 "--report", str(target)]) == 0
    assert f"report {target}" in capsys.readouterr().out
    page = target.read_text()
    assert "orders-10min" in page and "<script src=" not in page  # self-contained: it opens anywhere


def test_report_from_the_stored_tables(shop, capsys):
    assert main(["report", "orders-10min", "--project-dir", str(shop.root)]) == 1
    assert "nothing stored for metric 'orders-10min' yet" in capsys.readouterr().err
    main(["run", "--project-dir", str(shop.root), "--from", "2024-01-01", "--to", "2024-01-03"])
    capsys.readouterr()
    assert main(["report", "orders-10min", "--project-dir", str(shop.root), "--from", "2024-01-02"]) == 0
    out = capsys.readouterr().out
    written = Path(out.rsplit(" written to ", 1)[1].strip())
    assert out.startswith("orders-10min: report of 2024-01-02 00:00:00 .. 2024-01-03 00:00:00")
    assert written.parent == shop.root / "reports" / "orders-10min" and "orders-10min" in written.read_text()
    assert main(["report", "nope", "--project-dir", str(shop.root)]) == 1
    assert "no metric named 'nope' (metrics: orders-10min)" in capsys.readouterr().err


def test_test_alert_sends_a_marked_mock_through_a_dagster_run(shop, dagster_home, capsys):
    assert main(["test-alert", "orders-10min", "--project-dir", str(shop.root)]) == 0
    assert capsys.readouterr().out.strip() == "inbox: sent"
    (written,) = list((shop.root / "outbox").rglob("*.json"))
    record = json.loads(written.read_text())
    assert record["title"] == "\U0001F534 [TEST] [detectkit] Alert: orders-10min"
    (run,) = instance_runs(dagster_home)
    assert run.job_name == "test_alert" and run.is_success
    assert main(["test-alert", "nope", "--project-dir", str(shop.root)]) == 1
    assert "no metric named 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["validate"], ["run"], ["report", "m"], ["test-alert", "m"]])
def test_every_command_refuses_a_folder_that_is_not_a_project(command, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*command, "--project-dir", str(empty)]) == 1
    assert f"{empty} is not a detectkit project" in capsys.readouterr().err
    monkeypatch.chdir(empty)  # no --project-dir: the working directory, never another project
    assert main(command) == 1
    assert f"{empty} is not a detectkit project" in capsys.readouterr().err
    assert list(empty.iterdir()) == []


def test_init_scaffolds_a_project_that_dagster_loads_and_materializes(tmp_path, dagster_home, capsys):
    root = tmp_path / "new project"
    assert main(["init", str(root)]) == 0
    assert f"created project 'new project' in {root}" in capsys.readouterr().out
    for name in ("metrics/orders_per_hour.yml", "profiles.yml", "detectkit_project.yml", "workspace.yaml",
                 "definitions.py", "data/source.duckdb"):
        assert (root / name).is_file(), name
    assert main(["validate", "--project-dir", str(root)]) == 0
    # `dagster dev -w workspace.yaml` loads what `definitions validate` loads; started elsewhere on purpose.
    checked = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate",
                              "-w", str(root / "workspace.yaml")], cwd=tmp_path, capture_output=True, text=True,
                             env={**os.environ, "DAGSTER_HOME": str(dagster_home)}, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    start = (utc_now() - timedelta(days=28)).strftime("%Y-%m-%d")
    capsys.readouterr()
    assert main(["run", "--project-dir", str(root), "--from", start]) == 0
    out = capsys.readouterr().out
    store = DuckDBMetricStore(root / "data" / "detectkit", "orders_per_hour")
    points, alerts = store.read_range("datapoints"), store.read_range("alerts")
    assert points.height > 600 and alerts.filter(alerts["kind"] == "anomaly").height >= 1  # the sample outage
    assert f"orders_per_hour: {start} .. {utc_now():%Y-%m-%d} {points.height} points (0 missing)" in out


def test_init_refuses_a_folder_that_is_not_empty(project, capsys):
    project.write("notes.txt", "mine")
    assert main(["init", str(project.root)]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert [p.name for p in project.root.iterdir()] == ["notes.txt"]


def test_demo_never_writes_into_a_project_of_your_own(shop, capsys):
    before = sorted(p.relative_to(shop.root) for p in shop.root.rglob("*"))
    assert main(["demo", "--project-dir", str(shop.root), "--days", "1"]) == 1
    assert "is not a copy of the demo project" in capsys.readouterr().err
    assert sorted(p.relative_to(shop.root) for p in shop.root.rglob("*")) == before


def test_demo_runs_a_copy_in_a_new_folder(tmp_path, capsys):
    root = tmp_path / "demo"
    assert main(["demo", "--project-dir", str(root), "--days", "1"]) == 0
    out = capsys.readouterr().out
    assert (root / MARKER).exists() and (root / "data" / "demo_source.duckdb").exists()
    assert "orders_per_10min: partitions" in out and "FAILED" not in out


def test_pools_gives_each_metric_one_slot_once(tmp_path, monkeypatch, capsys):
    from detectkit_dagster.cli import main

    root = tmp_path / "shop"
    assert main(["init", str(root)]) == 0
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    capsys.readouterr()
    assert main(["pools", "--project-dir", str(root)]) == 0
    assert main(["pools", "--project-dir", str(root)]) == 0
    first, second = capsys.readouterr().out.strip().splitlines()
    assert first.startswith("1 pool(s) set to 1 slot(s)") and second.startswith("0 pool(s) set")
    with dg.DagsterInstance.get() as instance:
        (pool,) = instance.event_log_storage.get_concurrency_keys()
        assert instance.event_log_storage.get_concurrency_info(pool).slot_count == 1
