"""`<metric>/autotune` through Dagster: on demand, writes a tuned metric that loads and runs."""

import dagster as dg

from detectkit_dagster.detection import create_detector
import polars as pl
import pytest
import yaml

from detectkit_dagster.project import load_project
from detectkit_dagster.defs import build_definitions
from detectkit_dagster.defs.autotune import AutotuneRunConfig, autotune_assets, materialize_autotune
from detectkit_dagster.defs.context import MetricContext
from detectkit_dagster.defs.project import metric_definitions, shared_resources
from detectkit_dagster.storage import open_storage

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def context(root, name="orders"):
    project = load_project(root)
    return MetricContext(project, project.metric(name))


def materialization(instance, key):
    return instance.get_latest_materialization_event(key).asset_materialization


def test_the_asset_is_on_demand_and_unpartitioned(tuning_project):
    mc = context(tuning_project.root)
    [asset] = autotune_assets(mc)
    assert asset.key == dg.AssetKey(["orders", "autotune"]) and asset.partitions_def is None
    assert asset.key not in asset.automation_conditions_by_key and mc.key("datapoints") in asset.dependency_keys
    assert asset.group_names_by_key[asset.key] == "orders"


def test_materializing_writes_a_tuned_file_next_to_the_original_and_a_report(tuning_project):
    root = tuning_project.root
    original = (root / "metrics/orders.yml").read_bytes()
    with dg.instance_for_test() as instance:
        ok, lines = materialize_autotune(context(root), instance, AutotuneRunConfig())
        assert ok, lines
        meta = materialization(instance, dg.AssetKey(["orders", "autotune"])).metadata
    tuned = sorted((root / "metrics").glob("orders__tuned_*.yml"))
    assert [p.name for p in tuned] == [f"orders__tuned_{meta['run_id'].value}.yml"]
    assert (root / "metrics/orders.yml").read_bytes() == original
    assert meta["mode"].value == "supervised" and meta["labels"].value == "incidents/orders/: 5 incident(s)"
    assert "| SEASONALITY |" in meta["decisions"].value and "| GRID SEARCH |" in meta["decisions"].value
    assert meta["tuned_config"].value.startswith("```yaml\n# ───") and meta["tuned_file"].value == str(tuned[0])
    assert isinstance(meta["score"].value, float) and meta["candidates_evaluated"].value > 10
    report = root / "reports" / f"orders__tuned_{meta['run_id'].value}.html"
    assert meta["report"].value == report.resolve().as_uri() and report.stat().st_size > 10_000
    body = yaml.safe_load(tuned[0].read_text())
    assert body["alerting"][0]["enabled"] is False and body["alerting"][0]["channels"] == ["inbox"]
    assert any(line.startswith("Wrote ") for line in lines)


def test_a_tuned_file_loads_as_a_metric_and_its_assets_materialize(tuning_project):
    root = tuning_project.root
    with dg.instance_for_test() as instance:
        assert materialize_autotune(context(root), instance, AutotuneRunConfig(report=False))[0]
    defs = build_definitions(root)  # the project now holds the original and the tuned metric
    project = load_project(root)
    [tuned] = [m for m in project.metrics if m.name.startswith("orders__tuned_")]
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {f"{tuned.key}/{t}" for t in ("datapoints", "detections", "alerts", "report", "autotune")} <= keys
    mc = MetricContext(project, tuned)
    partitioned = [a for a in metric_definitions(mc).assets if a.partitions_def is not None]
    with dg.instance_for_test() as instance:
        result = dg.materialize(partitioned, instance=instance, resources=shared_resources(project),
                                partition_key="2025-01-01", run_config=QUIET)
    assert result.success
    detections = open_storage(project).metric(tuned.key).read_range("detections")
    [detector] = tuned.detectors
    assert set(detections["detector_id"]) == {create_detector(detector.type, dict(detector.params)).detector_id}
    assert detections.filter(pl.col("value").is_not_nan()).height == 3000 and detections["is_anomaly"].sum() > 0


def test_dry_run_writes_nothing(tuning_project):
    root = tuning_project.root
    before = sorted(p.relative_to(root) for p in root.rglob("*") if ".duckdb" not in p.name)
    with dg.instance_for_test() as instance:
        ok, lines = materialize_autotune(context(root), instance, AutotuneRunConfig(dry_run=True))
    assert ok and any(line.startswith("Dry run: nothing written") for line in lines)
    assert sorted(p.relative_to(root) for p in root.rglob("*") if ".duckdb" not in p.name) == before


def test_a_metric_without_history_fails_with_one_clear_line(tuning_project):
    tuning_project.metric("signups", tuning_project.root.joinpath("metrics/orders.yml").read_text()
                          .replace("name: orders", "name: signups"))
    with dg.instance_for_test() as instance:
        ok, lines = materialize_autotune(context(tuning_project.root, "signups"), instance, AutotuneRunConfig())
    assert not ok
    assert lines == ["Autotune of metric 'signups' failed: no stored datapoints for 'signups': "
                     "materialize signups/datapoints first"]


def test_bad_labels_fail_the_run_naming_the_file(tuning_project):
    tuning_project.write("incidents/orders/broken.yml", "incidents:\n  - {start: '2025-01-09', end: '2025-01-08'}\n")
    with dg.instance_for_test() as instance:
        ok, [line] = materialize_autotune(context(tuning_project.root), instance, AutotuneRunConfig())
    assert not ok and "incidents/orders/broken.yml: incidents[0]: Incident start 2025-01-09" in line


def test_disabled_autotune_has_no_asset(tuning_project):
    text = tuning_project.root.joinpath("metrics/orders.yml").read_text()
    tuning_project.metric("orders", text.replace("autotune:\n", "autotune:\n  enabled: false\n"))
    assert autotune_assets(context(tuning_project.root)) == []


@pytest.mark.parametrize("config, message", [
    (AutotuneRunConfig(scoring="accuracy"), "scoring 'accuracy' is not one of mcc"),
    (AutotuneRunConfig(start="yesterday"), "start: 'yesterday' is not a date or time"),
    (AutotuneRunConfig(incidents="nowhere.yml"), "labels file not found"),
])
def test_bad_run_config_is_named(tuning_project, config, message):
    with dg.instance_for_test() as instance:
        ok, [line] = materialize_autotune(context(tuning_project.root), instance, config)
    assert not ok and message in line
