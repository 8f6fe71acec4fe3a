"""`<metric>/autotune`: tune the metric on its stored history, on demand (never automated).

Writes `<file stem>__tuned_<run id>.yml` next to the metric's file (the original is never
edited) and a report of the winner over the training window; the decision log, the scores
and the tuned config are the materialization's metadata. `dry_run` writes nothing.
"""

from datetime import datetime
from pathlib import Path

import dagster as dg
from pydantic import Field

from ..autotune import METRICS, AutotuneResult
from ..autotune.decisions import HEADINGS
from ..autotune.seasonality import format_grouping
from ..storage import open_storage
from ..tuning import TuneRun, relative, tune_metric, write_tuned, write_tuning_report
from .context import MetricContext, readable_failures
from .resources import STORAGE


class AutotuneRunConfig(dg.Config):
    """What one tuning run uses (all optional); shown in the launchpad."""

    dry_run: bool = Field(False, description="Show the result only: write no tuned file and no report.")
    incidents: str | None = Field(None, description=(
        "A labels file or folder, relative to the project (default: autotune.labels_file, then "
        "incidents/<metric>/, then autotune.incidents)."))
    start: str | None = Field(None, description="Train from this UTC day or time (YYYY-MM-DD[ HH:MM]), inclusive.")
    end: str | None = Field(None, description="Train up to this UTC day or time, exclusive.")
    scoring: str | None = Field(None, description="Scoring metric for labeled runs (overrides autotune.scoring_metric).")
    report: bool = Field(True, description="Write a report of the winner over the training window.")
    report_path: str | None = Field(None, description=(
        "Write the report as one self-contained page here instead of reports/<tuned name>.html."))


def autotune_assets(mc: MetricContext) -> list[dg.AssetsDefinition]:
    """The metric's autotune asset; none when its `autotune.enabled` is false."""
    config = mc.metric.autotune
    return [autotune_asset(mc)] if config is None or config.enabled else []


def autotune_asset(mc: MetricContext) -> dg.AssetsDefinition:
    metric, project = mc.metric, mc.project

    @dg.asset(
        key=mc.key("autotune"),
        group_name=mc.ident,
        description=(f"Tunes {metric.name}'s detector, seasonality and alert rule on its stored history "
                     "(and labeled incidents). Writes a __tuned_ metric file next to the original."),
        owners=list(metric.dagster.owners) or None,
        kinds={"python", "yaml"},
        deps=[mc.key("datapoints")],
        required_resource_keys={STORAGE},
        pool=mc.pool,
    )
    def autotune(context: dg.AssetExecutionContext, config: AutotuneRunConfig) -> dg.MaterializeResult:
        if config.scoring is not None and config.scoring not in METRICS:
            raise dg.Failure(f"scoring {config.scoring!r} is not one of {', '.join(METRICS)}")
        with readable_failures(mc, "Autotune"):
            store = getattr(context.resources, STORAGE).metric(mc.ident)
            run = tune_metric(project, metric, store, incidents=_path(project.root, config.incidents),
                              start=_time(config.start, "start"), end=_time(config.end, "end"),
                              scoring=config.scoring)
            written = report = None
            if not config.dry_run:
                written = write_tuned(project, run)
                if config.report:
                    report = write_tuning_report(project, run, _path(project.root, config.report_path))
        summary = summary_lines(run, written and relative(project, written), report and relative(project, report))
        for line in summary:
            context.log.info(line)
        return dg.MaterializeResult(metadata=_metadata(run, written, report, summary))

    return autotune


def _path(root: Path, text: str | None) -> Path | None:
    if not text:
        return None
    path = Path(text).expanduser()
    return path if path.is_absolute() else root / path


def _time(text: str | None, field: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=None)
    except ValueError:
        raise dg.Failure(f"{field}: {text!r} is not a date or time (use YYYY-MM-DD or 'YYYY-MM-DD HH:MM')") from None


def summary_lines(run: TuneRun, written: str | None, report: str | None) -> list[str]:
    """The result as the command prints it."""
    r = run.result
    params = r.detector_params
    score_name = r.scoring_metric if r.mode == "supervised" else "objective"
    folds = " ".join(f"{x:.2f}" for x in r.per_fold) or "—"
    lines = [
        f"Winner: {r.detector_type}(threshold={params.get('threshold')}, window_size={params.get('window_size')})  "
        f"{score_name}={r.score:.3f}",
        f"Seasonality: {format_grouping(r.seasonality)}  |  CV folds: {folds}",
        f"Training: {r.training_start} → {r.training_end} ({r.n_points:,} points); labels: {run.labels.source}"
        f" ({r.mode})",
    ]
    if r.alerting:
        lines.append("Alerting: " + ", ".join(f"{k}={v}" for k, v in r.alerting.items()))
    if report:
        lines.append(f"Report → {report}")
    lines.append(f"Wrote {written}  (run_id={r.run_id})" if written else f"Dry run: nothing written (run_id={r.run_id})")
    lines.append(f"Evaluated {len(r.candidates)} candidate(s)")
    if written:
        lines.append(f"The tuned metric {r.tuned_name} loads with the project; its alerts are held until you enable them.")
    return lines


def decision_table(result: AutotuneResult) -> str:
    rows = ["| stage | decision |", "|---|---|"]
    for d in result.decision_log:
        rows.append(f"| {HEADINGS[d.stage]} | {_cell(d.message)} |")
    return "\n".join(rows)


def score_table(result: AutotuneResult) -> str:
    s = result.scores
    rows = [f"**{s['metric']}** = {s['score']:.4f} (stability penalty {s['stability_penalty']:.4f}, "
            f"{s['candidates_evaluated']} candidates)", "", "| fold | score |", "|---|---|"]
    rows += [f"| {i + 1} | {x:.4f} |" for i, x in enumerate(s["per_fold"])]
    best = sorted(result.candidates, key=lambda c: -c["score"])[:10]
    rows += ["", "| candidate | params | score |", "|---|---|---|"]
    rows += [f"| {c['detector_type']} | {_cell(_params(c['params']))} | {c['score']:.4f} |" for c in best]
    return "\n".join(rows)


def _params(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _metadata(run: TuneRun, written: Path | None, report: Path | None, summary: list[str]) -> dict:
    r = run.result
    meta = {
        "run_id": r.run_id,
        "mode": r.mode,
        "scoring_metric": r.scoring_metric if r.mode == "supervised" else "unsupervised objective",
        "score": float(r.score),
        "candidates_evaluated": len(r.candidates),
        "training_points": r.n_points,
        "training_window": f"{r.training_start} → {r.training_end}",
        "labels": f"{run.labels.source}: {run.labels.count} incident(s)",
        "winner": f"{r.detector_type} {_params(r.detector_params)}",
        "decisions": dg.MetadataValue.md(decision_table(r)),
        "scores": dg.MetadataValue.md(score_table(r)),
        "tuned_config": dg.MetadataValue.md(f"```yaml\n{r.yaml}\n```"),
        "tuned_file": dg.MetadataValue.path(str(written)) if written else "dry run: nothing written",
    }
    if report is not None:
        meta["report"] = dg.MetadataValue.url(report.resolve().as_uri())
    meta["summary"] = "\n".join(summary)
    return meta


def materialize_autotune(mc: MetricContext, instance: dg.DagsterInstance, config: AutotuneRunConfig,
                         ) -> tuple[bool, list[str]]:
    """One run of the metric's autotune asset (it shows in the UI): (success, summary lines or
    the failure)."""
    [asset] = autotune_assets(mc)
    result = dg.materialize(
        [asset], instance=instance, raise_on_error=False, resources={STORAGE: open_storage(mc.project)},
        run_config=dg.RunConfig(ops={asset.op.name: config},
                                loggers={"console": {"config": {"log_level": "CRITICAL"}}}),  # failures are reported by the caller
    )
    if result.success:
        [event] = result.asset_materializations_for_node(asset.op.name)
        return True, event.metadata["summary"].value.splitlines()
    return False, [_failure(result)]


def _failure(result) -> str:
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            if data.user_failure_data is not None and data.user_failure_data.description:
                return data.user_failure_data.description
            return f"unexpected error: {data.error.message.strip().splitlines()[-1]}"
    return "the run failed"
