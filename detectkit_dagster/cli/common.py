"""What the commands share: finding the project folder and the Dagster instance home."""

from __future__ import annotations

import os
from pathlib import Path

DAGSTER_YAML = """\
# Written by `detectkit-dagster demo`. One DuckDB writer per metric file at a time.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def add_project_dir(parser, help_text: str = "project folder (default: $DETECTKIT_PROJECT_DIR or .)") -> None:
    parser.add_argument("--project-dir", help=help_text)


def project_root(value: str | None) -> Path:
    from ..config.project import default_project_dir

    return Path(value).resolve() if value else default_project_dir().resolve()


def prepare_dagster_home(root: Path) -> Path:
    """A persistent DAGSTER_HOME so `dagster dev` shows what the commands materialized."""
    home = Path(os.environ.get("DAGSTER_HOME") or root / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
