"""`detectkit-dagster demo`: build the demo source and materialize its recent partitions."""

from __future__ import annotations

import os

from .common import add_project_dir, prepare_dagster_home, project_root


def register(sub) -> None:
    parser = sub.add_parser("demo", help="build the demo source and materialize recent partitions")
    add_project_dir(parser, "project folder (default: the repository root)")
    parser.add_argument("--days", type=int, default=14, help="how many recent days to materialize")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..defs.runner import run_recent
    from ..demo import build_demo_source
    from ..timegrid import utc_now

    root = project_root(args.project_dir)
    home = prepare_dagster_home(root)
    os.environ["DETECTKIT_PROJECT_DIR"] = str(root)
    counts = build_demo_source(root / "data" / "demo_source.duckdb", utc_now())
    print("demo source:", ", ".join(f"{table} {rows:,} rows" for table, rows in counts.items()))
    for line in run_recent(root, days=args.days):
        print(line)
    print(f"\nDagster instance: {home}")
    print(f"Open the UI:  DAGSTER_HOME={home} dagster dev -w {root / 'workspace.yaml'}  -> http://127.0.0.1:3000")
    return 0
