"""`dg check defs` and `dg list defs` over this repository (the `[tool.dg]` section of pyproject.toml)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from detectkit_dagster.project import load_project

from conftest import REPO

VENV_BIN = Path(sys.executable).parent


def dg(*args: str, home: Path, project_dir: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "DAGSTER_HOME": str(home), "DETECTKIT_PROJECT_DIR": str(project_dir),
           "VIRTUAL_ENV": str(VENV_BIN.parent), "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(VENV_BIN / "dg"), *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_dg_check_defs_loads_the_project(tmp_path):
    result = dg("check", "defs", home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout


def test_dg_check_defs_fails_on_a_broken_metric_and_names_it(tmp_path):
    broken = tmp_path / "project"
    shutil.copytree(REPO / "metrics", broken / "metrics")
    for name in ("detectkit_project.yml", "profiles.yml"):
        shutil.copy(REPO / name, broken / name)
    metric = next((broken / "metrics").rglob("*.yml"))
    metric.write_text(metric.read_text() + "interval: banana\n")
    result = dg("check", "defs", home=tmp_path, project_dir=broken)
    assert result.returncode != 0
    assert f"{metric}: invalid YAML" in result.stdout + result.stderr


def test_dg_list_defs_lists_every_metrics_assets_checks_and_sensors(tmp_path):
    result = dg("list", "defs", "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assets = {item["asset_key"] for item in listed["assets"]}
    checks = {item["key"] for item in listed["asset_checks"]}
    for metric in load_project(REPO).metrics:
        assert {f"{metric.key}/{t}" for t in ("datapoints", "detections", "alerts", "report")} <= assets
        assert {f"{metric.key}/datapoints:complete", f"{metric.key}/alerts:no_anomaly_alert"} <= checks
    assert {s["name"] for s in listed["sensors"]} >= {"detectkit_automation", "detectkit_alert_dispatch"}
