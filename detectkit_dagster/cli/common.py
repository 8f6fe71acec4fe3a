"""What the commands share: finding the project folder and the Dagster instance home."""

from __future__ import annotations

import os
import sys
from pathlib import Path

DAGSTER_YAML = """\
# Written by detectkit-dagster. Each metric's pool gets one slot on this instance when a
# command first runs it (`detectkit-dagster pools` sets them for a deployment).
telemetry:
  enabled: false
# Dagster's SQLite storage, storing a range run's events in fewer transactions and compiling
# each statement once (see detectkit_dagster/defs/instance.py).
event_log_storage:
  module: detectkit_dagster.defs.instance
  class: BatchedSqliteEventLogStorage
  config:
    dagster_home: {env: DAGSTER_HOME}
"""


def add_project_dir(parser, help_text: str = "project folder (default: $DETECTKIT_PROJECT_DIR or .)") -> None:
    parser.add_argument("--project-dir", help=help_text)


def project_root(value: str | None) -> Path:
    from ..config.project import default_project_dir

    return Path(value).resolve() if value else default_project_dir().resolve()


PROJECT_FILES = ("metrics", "profiles.yml", "detectkit_project.yml")
# Commands print their own one-line outcome; Dagster's console log would repeat it with tracebacks.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def load(root: Path):
    """The project in `root`; a folder without any project file is refused in one line, never
    replaced by another project."""
    from ..project import load_project
    from ..errors import ConfigError

    if not root.is_dir():
        raise ConfigError(None, f"no such folder: {root}")
    if not any((root / name).exists() for name in PROJECT_FILES):
        raise ConfigError(None, f"{root} is not a detectkit project (no metrics/ folder, profiles.yml or "
                                f"detectkit_project.yml): pass --project-dir, or create one with "
                                f"`detectkit-dagster init {root}`")
    return load_project(root)


def find_metric(project, name: str):
    from ..errors import ConfigError

    try:
        return project.metric(name)
    except KeyError:
        names = ", ".join(m.name for m in project.metrics) or "none"
        raise ConfigError(None, f"no metric named {name!r} (metrics: {names})") from None


def fail(message: object) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def prepare_dagster_home(root: Path) -> Path:
    """A persistent DAGSTER_HOME so `dagster dev` shows what the commands materialized."""
    home = Path(os.environ.get("DAGSTER_HOME") or root / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def select_metrics(project, selectors: list[str]) -> list:
    """Metrics matching any selector: a name or key, a glob over names (`orders*`), or `tag:T`.

    No selector selects every metric; a selector that matches nothing is an error naming it.
    """
    from fnmatch import fnmatchcase

    from ..errors import ConfigError

    if not selectors:
        return list(project.metrics)
    chosen = []
    for selector in selectors:
        if selector.startswith("tag:"):
            tag = selector[4:]
            found = [m for m in project.metrics if tag in (m.tags or [])]
        else:
            found = [m for m in project.metrics
                     if fnmatchcase(m.name, selector) or fnmatchcase(m.key, selector)]
        if not found:
            names = ", ".join(m.name for m in project.metrics) or "none"
            raise ConfigError(None, f"--select {selector!r} matches no metric (metrics: {names})")
        chosen.extend(m for m in found if m not in chosen)
    return chosen


def partition_keys(mc, start, end) -> list[str]:
    """Keys of the metric's partitions overlapping [start, end), oldest first; no start and no
    end: the newest partition (the one in progress)."""
    pdef = mc.partitions_def
    keys = pdef.get_partition_keys()
    if start is None and end is None:
        return keys[-1:]
    chosen = []
    for key in keys:
        window = pdef.time_window_for_partition_key(key)
        if (end is None or window.start.replace(tzinfo=None) < end) and \
                (start is None or window.end.replace(tzinfo=None) > start):
            chosen.append(key)
    return chosen


def parse_day(text: str):
    """`2026-11-01` or `2026-11-01 06:00[:00]` as a naive-UTC datetime (argparse type)."""
    import argparse
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or time: {text!r} (use YYYY-MM-DD or 'YYYY-MM-DD HH:MM')")
