"""`detectkit-dagster pools`: give each metric's pool its slot on the Dagster instance.

Run it against a deployment's instance (DAGSTER_HOME) after adding metrics; the other commands
do it for the instance they use.
"""

from __future__ import annotations

from .common import add_project_dir, load, project_root


def register(sub) -> None:
    parser = sub.add_parser("pools", help="set one slot per metric pool on the Dagster instance ($DAGSTER_HOME)")
    add_project_dir(parser)
    parser.add_argument("--slots", type=int, default=1, help="slots per metric (default 1: one writer at a time)")
    parser.set_defaults(func=run)


def run(args) -> int:
    import dagster as dg

    from ..defs.pools import ensure_pool_limits

    project = load(project_root(args.project_dir))
    with dg.DagsterInstance.get() as instance:
        added = ensure_pool_limits(instance, project, args.slots)
    print(f"{len(added)} pool(s) set to {args.slots} slot(s); {len(project.metrics) - len(added)} already had a limit")
    return 0
