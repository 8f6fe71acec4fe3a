"""Command line: `detectkit-dagster demo` and `detectkit-dagster validate`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DAGSTER_YAML = """\
# Written by `detectkit-dagster demo`. One DuckDB writer per metric file at a time.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def _project_root(value: str | None) -> Path:
    from .config.project import default_project_dir

    return Path(value).resolve() if value else default_project_dir().resolve()


def cmd_validate(args) -> int:
    from .config import ConfigError, load_project

    root = _project_root(args.project_dir)
    try:
        project = load_project(root)
    except ConfigError as exc:
        print(f"invalid project: {exc}", file=sys.stderr)
        return 1
    print(f"project {project.config.name!r} at {root}: {len(project.metrics)} metric(s) valid")
    for metric in project.metrics:
        detectors = ", ".join(d.type for d in metric.detectors) or "no detectors"
        print(f"  {metric.name}: every {metric.interval}, {detectors}, {len(metric.alerts)} alert block(s)")
    if project.disabled:
        print(f"  disabled: {', '.join(project.disabled)}")
    return 0


def prepare_dagster_home(root: Path) -> Path:
    """A persistent DAGSTER_HOME so `dagster dev` shows what the demo materialized."""
    home = Path(os.environ.get("DAGSTER_HOME") or root / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def cmd_demo(args) -> int:
    from .demo import build_demo_source
    from .defs.runner import run_recent
    from .timegrid import utc_now

    root = _project_root(args.project_dir)
    home = prepare_dagster_home(root)
    os.environ["DETECTKIT_PROJECT_DIR"] = str(root)
    counts = build_demo_source(root / "data" / "demo_source.duckdb", utc_now())
    print("demo source:", ", ".join(f"{table} {rows:,} rows" for table, rows in counts.items()))
    summary = run_recent(root, days=args.days)
    for line in summary:
        print(line)
    print(f"\nDagster instance: {home}")
    print(f"Open the UI:  DAGSTER_HOME={home} dagster dev -w {root / 'workspace.yaml'}  -> http://127.0.0.1:3000")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="detectkit-dagster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="load and check every config file of a project")
    validate.add_argument("--project-dir", help="project folder (default: $DETECTKIT_PROJECT_DIR or .)")
    validate.set_defaults(func=cmd_validate)
    demo = sub.add_parser("demo", help="build the demo source and materialize recent partitions")
    demo.add_argument("--project-dir", help="project folder (default: the repository root)")
    demo.add_argument("--days", type=int, default=14, help="how many recent days to materialize")
    demo.set_defaults(func=cmd_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
