"""What a tuning run found, and the annotated metric YAML that records it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

import yaml
from pydantic import ValidationError

from ..config.alert import AlertConfig
from ..config.errors import describe_validation_error
from ..config.metric import MetricConfig
from ..errors import AutotuneError
from .decisions import HEADINGS, Decision
from .seasonality import format_grouping

RULE = "# " + "─" * 61
TIME = "%Y-%m-%d %H:%M:%S"
# Copied from the original metric when present, in this order (after name).
COPIED_FIELDS = ("description", "tags", "profile", "source_profile", "query", "query_file", "query_columns",
                 "interval", "loading_delay")
SWEPT_ALERT_FIELDS = ("consecutive_anomalies", "anomaly_window", "min_anomaly_share")


@dataclass(frozen=True)
class AutotuneResult:
    metric: str
    mode: str                      # supervised | unsupervised
    scoring_metric: str
    training_start: datetime
    training_end: datetime
    interval_seconds: int
    n_points: int
    labels_summary: dict
    seasonality: list | None
    detector_type: str
    detector_params: dict          # cleaned: no None values, pinned params included
    detector_id: str
    score: float
    per_fold: tuple[float, ...]
    penalty: float
    alerting: dict                 # alert fields chosen (supervised runs only)
    candidates: tuple[dict, ...]   # every distinct config evaluated
    decision_log: tuple[Decision, ...]
    original: dict | None = field(default=None, repr=False)  # the metric's YAML mapping, if given
    source: str | None = None      # where the original lives, for the header

    # --- the public view ------------------------------------------------------------------
    @property
    def detectors(self) -> list[dict]:
        return [{"type": self.detector_type, "params": dict(self.detector_params)}]

    @property
    def scores(self) -> dict:
        return {"metric": self.scoring_metric if self.mode == "supervised" else "unsupervised",
                "score": self.score, "per_fold": list(self.per_fold), "stability_penalty": self.penalty,
                "candidates_evaluated": len(self.candidates), "mode": self.mode}

    @property
    def decisions(self) -> list[dict]:
        return [d.as_dict() for d in self.decision_log]

    @property
    def run_id(self) -> str:
        """Six hex digits from the inputs and the outcome (no clock): a rerun gives the same id."""
        payload = {
            "metric": self.metric,
            "training_start": self.training_start.isoformat(), "training_end": self.training_end.isoformat(),
            "labels": self.labels_summary, "detector_type": self.detector_type,
            "detector_params": self.detector_params, "seasonality": self.seasonality,
            "scoring_metric": self.scoring_metric, "alerting": self.alerting,
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:6]

    @property
    def tuned_name(self) -> str:
        return f"{self.metric}__tuned_{self.run_id}"

    @property
    def yaml(self) -> str:
        """The annotated YAML: a full metric file when the original was given, otherwise the
        tuned fields (seasonality_columns, detectors, alerting) to paste into one."""
        body = self.metric_body() if self.original is not None else self._fragment()
        return "\n".join(self.header()) + "\n" + _dump(body)

    # --- the file -------------------------------------------------------------------------
    def detector_block(self) -> dict:
        params = dict(self.detector_params)
        params.setdefault("start_time", self.training_start.strftime(TIME))
        return {"type": self.detector_type, "params": params}

    def alert_block(self) -> dict:
        """The tuned alert rule: the original's first block (non-default fields), one detector,
        the swept fields. Written held (enabled: false), so a trial config never pages twice."""
        blocks = (self.original or {}).get("alerting")
        block = blocks if isinstance(blocks, dict) else (blocks[0] if blocks else {})
        out = AlertConfig.model_validate(block).model_dump(exclude_none=True, exclude_defaults=True, mode="json")
        out["min_detectors"] = 1
        if self.alerting:
            for name in SWEPT_ALERT_FIELDS:
                out.pop(name, None)
            out |= self.alerting
        return out

    def metric_body(self) -> dict:
        original = self.original or {}
        body: dict = {"name": self.tuned_name}
        body |= {k: original[k] for k in COPIED_FIELDS if original.get(k) is not None}
        body["loading_start_time"] = self.training_start.strftime(TIME)
        if original.get("loading_batch_size") is not None:
            body["loading_batch_size"] = original["loading_batch_size"]
        columns = self._seasonality_columns(original)
        if columns:
            body["seasonality_columns"] = columns
        body["detectors"] = [self.detector_block()]
        if original.get("alerting"):
            body["alerting"] = [self.alert_block() | {"enabled": False}]
        if original.get("dagster"):
            body["dagster"] = original["dagster"]
        body["enabled"] = True
        try:
            MetricConfig.model_validate(body)
        except ValidationError as exc:
            raise AutotuneError("the tuned config is not a valid metric: "
                                + "; ".join(describe_validation_error(exc, MetricConfig).splitlines())) from None
        return body

    def _seasonality_columns(self, original: dict) -> list | None:
        if (original.get("query_columns") or {}).get("seasonality"):
            return original.get("seasonality_columns")
        if self.seasonality:
            flat = [c for comp in self.seasonality for c in ([comp] if isinstance(comp, str) else comp)]
            return list(dict.fromkeys(flat))
        return original.get("seasonality_columns")

    def _fragment(self) -> dict:
        body: dict = {"loading_start_time": self.training_start.strftime(TIME)}
        columns = self._seasonality_columns({})
        if columns:
            body["seasonality_columns"] = columns
        body["detectors"] = [self.detector_block()]
        if self.alerting:
            body["alerting"] = [dict(self.alerting)]
        return body

    def header(self) -> list[str]:
        folds = " ".join(f"{x:.2f}" for x in self.per_fold) or "—"
        summary = self.labels_summary
        if self.mode == "supervised":
            scored = f"# Scoring metric  : {self.scoring_metric} = {self.score:.3f}  (CV folds: {folds})"
        else:
            scored = f"# Objective       : unsupervised (band-fit + flag-budget) = {self.score:.3f}  (CV folds: {folds})"
        lines = [
            RULE,
            f"# Auto-tuned by `detectkit-dagster autotune`  (run_id: {self.run_id})",
            f"# Generated from: {self.source or self.metric}",
            "#",
            f"# Training period : {self.training_start.strftime(TIME)} → {self.training_end.strftime(TIME)} UTC "
            f"({self.n_points:,} points)",
            f"# Labels          : {self.mode} — {summary['intervals']} interval(s), {summary['points']} point(s), "
            f"{summary['positive_grid_points']} labeled grid point(s)",
            scored,
            "#",
        ]
        lines += [f"# {HEADINGS[d.stage]:<11} : {d.message}" for d in self.decision_log if d.stage != "labels"]
        lines += ["#", f"# Seasonality     : {format_grouping(self.seasonality)}"]
        if self.original is not None and self.original.get("alerting"):
            lines.append("# Alerts are held (alerting[0].enabled: false) while you compare: set it to true to adopt.")
        lines += [f"# Reproduce: detectkit-dagster autotune --select {self.metric}", RULE]
        return lines


class _Dumper(yaml.SafeDumper):
    """Mappings as blocks, lists of plain values on one line, multi-line text as a literal block."""


def _text(dumper, value: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


def _list(dumper, value: list):
    flat = all(not isinstance(v, (dict, list)) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)


def _mapping(dumper, value: dict):
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=False)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(list, _list)
_Dumper.add_representer(dict, _mapping)


def _dump(body: dict) -> str:
    return yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)
