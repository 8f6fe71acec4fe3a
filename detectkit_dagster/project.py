"""Loading a project folder: its config files, then the checks that need the packages built on
config (detectors, channels, query templates, partitioning).

`config/` reads each file on its own terms and imports nothing above it; whatever only a
detector, a channel or the template engine can judge is checked here, when definitions load,
with one error naming the file, the field and the problem.
"""

from __future__ import annotations

from pathlib import Path

from .channels import check_template, validate_channel
from .autotune.settings import check_block
from .config import MetricConfig, Project
from .config.project import (
    PROFILES_FILE, PROJECT_FILE, assemble, discover_metric_files, load_metric, load_profiles,
    load_project_config,
)
from .detection import create_detector
from .errors import ConfigError
from .partitioning import check_granularity, default_granularity
from .sources import template as query_template
from .timegrid import format_interval

MESSAGE_TEMPLATES = ("template_single", "template_consecutive", "template_recovery", "template_no_data")
# How far back a detector may look: a grid of more points than this does not fit a run.
MAX_CONTEXT_POINTS = 1_000_000


def load_project(root: Path | str) -> Project:
    """Load and cross-check every config file of a project folder."""
    root = Path(root).resolve()
    config = load_project_config(root)
    _check_message_template(config.error_alerting.template, root / PROJECT_FILE, "error_alerting.template")
    profiles = load_profiles(root)
    for name, channel in profiles.alert_channels.items():
        try:
            validate_channel(name, channel)
        except ValueError as exc:
            raise ConfigError(root / PROFILES_FILE, f"alert_channels.{name}: {exc}") from None
    metrics = [check_metric(load_metric(path, root))
               for path in discover_metric_files(root, config.paths.get("metrics", "metrics"))]
    return assemble(root, config, profiles, metrics)


def check_metric(metric: MetricConfig) -> MetricConfig:
    """The checks of one metric file that need the detectors, the partitioning or the templates."""
    path, interval = metric.path, metric.interval_seconds
    try:
        check_granularity(metric.dagster.partitions or default_granularity(interval), interval)
    except ValueError as exc:
        raise ConfigError(path, f"dagster.partitions: {exc}") from None
    for index, config in enumerate(metric.detectors):
        try:
            detector = create_detector(config.type, dict(config.params))
        except ValueError as exc:
            raise ConfigError(path, f"detectors[{index}]: {exc}") from None
        if detector.context_size > MAX_CONTEXT_POINTS:
            raise ConfigError(path, f"detectors[{index}]: looks back {detector.context_size:,} points "
                                    f"({format_interval(interval)} apart); at most {MAX_CONTEXT_POINTS:,} "
                                    "are supported: lower window_size")
    try:
        query_template.check_template(metric.sql)
    except ValueError as exc:
        raise ConfigError(path, f"{metric.query_field}: {exc}") from None
    for index, alert in enumerate(metric.alerts):
        for name in MESSAGE_TEMPLATES:
            _check_message_template(getattr(alert, name), path, f"alerting[{index}].{name}")
    if metric.autotune is not None:
        _check_autotune(metric.autotune, path)
    return metric


def _check_autotune(block, path: Path) -> None:
    try:
        check_block(block)
    except ValueError as exc:
        raise ConfigError(path, f"autotune.{exc}") from None


def _check_message_template(template: str | None, path: Path, field: str) -> None:
    problem = template is not None and check_template(template)
    if problem:
        raise ConfigError(path, f"{field}: template cannot render: {problem}")
