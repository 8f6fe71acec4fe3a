"""`detectkit-dagster demo`: build the demo source and materialize its recent partitions.

The demo project is the one in the source checkout. `--project-dir` runs a copy of it in
another folder (new or empty, or a copy made before); a folder holding anything else, such
as a project of your own, is refused and left untouched.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .common import fail, prepare_dagster_home

DEMO_ROOT = Path(__file__).resolve().parents[2]
MARKER = ".detectkit-demo"  # marks a copy of the demo project, which the demo may refill
DEMO_FILES = ("metrics", "profiles.yml", "detectkit_project.yml")


def register(sub) -> None:
    parser = sub.add_parser("demo", help="build the demo source and materialize recent partitions")
    parser.add_argument("--project-dir", help="run a copy of the demo in this folder (new, empty, or a demo copy)")
    parser.add_argument("--days", type=int, default=14, help="how many recent days to materialize")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..defs.runner import run_recent
    from ..demo import build_demo_source
    from ..timegrid import utc_now

    if not (DEMO_ROOT / "metrics").is_dir():
        return fail("the demo project comes with the source checkout; for a project of your own run "
                    "`detectkit-dagster init DIR`")
    root = Path(args.project_dir).resolve() if args.project_dir else DEMO_ROOT
    if root != DEMO_ROOT and not (root / MARKER).exists():
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            return fail(f"{root} is not a copy of the demo project: the demo writes its data only into "
                        "the demo project, a new or empty folder, or an earlier copy")
        copy_demo(root)
    home = prepare_dagster_home(root)
    os.environ["DETECTKIT_PROJECT_DIR"] = str(root)
    counts = build_demo_source(root / "data" / "demo_source.duckdb", utc_now())
    print("demo source:", ", ".join(f"{table} {rows:,} rows" for table, rows in counts.items()))
    for line in run_recent(root, days=args.days):
        print(line)
    print(f"\nDagster instance: {home}")
    workspace = root / "workspace.yaml"
    print(f"Open the UI:  cd {root} && DAGSTER_HOME={home} dagster dev -w {workspace}  -> http://127.0.0.1:3000")
    return 0


def copy_demo(root: Path) -> None:
    from .init import DEFINITIONS, WORKSPACE

    root.mkdir(parents=True, exist_ok=True)
    for name in DEMO_FILES:
        source = DEMO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy2(source, root / name)
    (root / "definitions.py").write_text(DEFINITIONS)
    (root / "workspace.yaml").write_text(WORKSPACE)
    (root / MARKER).write_text("A copy of the detectkit-dagster demo project: `detectkit-dagster demo` refills it.\n")
