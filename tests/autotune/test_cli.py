"""`detectkit-dagster autotune`: through the project's Dagster instance, one line per failure."""

import dagster as dg
import pytest

from detectkit_dagster.cli import main


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    monkeypatch.setenv("DETECTKIT_PROJECT_DIR", "")
    return path


def autotune(root, *args):
    return main(["autotune", "--project-dir", str(root), *args])


def test_dry_run_prints_the_result_and_writes_nothing(tuning_project, home, capsys):
    root = tuning_project.root
    assert autotune(root, "--select", "orders", "--dry-run", "--scoring", "event_f1") == 0
    out = capsys.readouterr().out
    assert out.startswith("✓ orders\n  │ Winner: ")
    assert "event_f1=" in out and "labels: incidents/orders/ (supervised)" in out
    assert "Dry run: nothing written" in out and out.endswith("Done. Tuned 1 metric(s), 1 succeeded.\n")
    assert not list((root / "metrics").glob("*__tuned_*")) and not (root / "reports").exists()
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the run is on the project's instance
        assert instance.get_latest_materialization_event(dg.AssetKey(["orders", "autotune"])) is not None


def test_report_path_incidents_and_dates(tuning_project, home, tmp_path, capsys):
    labels = tmp_path / "other.yml"
    labels.write_text("- {start: '2025-01-20 10:00:00', end: '2025-01-20 12:00:00'}\n")
    page = tmp_path / "out" / "tuned.html"
    code = autotune(tuning_project.root, "-s", "orders", "--incidents", str(labels), "--from", "2025-01-08",
                    "--to", "2025-01-25", "--report", str(page))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Training: 2025-01-08 00:00:00 → 2025-01-24 23:50:00 (2,448 points); labels: other.yml" in out
    assert "Report → out/tuned.html" in out and "Wrote metrics/orders__tuned_" in out and "<script>" in page.read_text()[:2_000_000]  # self-contained
    assert len(list((tuning_project.root / "metrics").glob("orders__tuned_*.yml"))) == 1


def test_every_failure_is_one_line_and_the_exit_code_is_1(tuning_project, home, capsys):
    text = (tuning_project.root / "metrics/orders.yml").read_text()
    tuning_project.metric("signups", text.replace("name: orders", "name: signups").replace("- shop", ""))
    assert autotune(tuning_project.root, "--select", "*", "--dry-run") == 1
    captured = capsys.readouterr()
    assert captured.err == ("✗ signups: Autotune of metric 'signups' failed: no stored datapoints for 'signups': "
                            "materialize signups/datapoints first\n")
    assert "✓ orders" in captured.out and "Done. Tuned 2 metric(s), 1 succeeded." in captured.out


def test_a_selector_that_matches_nothing(tuning_project, home, capsys):
    assert autotune(tuning_project.root, "--select", "nothing*") == 1
    assert "--select 'nothing*' matches no metric (metrics: orders)" in capsys.readouterr().err


def test_disabled_metrics_are_skipped(tuning_project, home, capsys):
    text = (tuning_project.root / "metrics/orders.yml").read_text()
    tuning_project.metric("orders", text.replace("autotune:\n", "autotune:\n  enabled: false\n"))
    assert autotune(tuning_project.root, "--select", "orders") == 0
    assert capsys.readouterr().out == "• orders: autotune disabled in config\nDone. Tuned 0 metric(s), 0 succeeded.\n"
