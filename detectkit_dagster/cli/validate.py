"""`detectkit-dagster validate`: load and check every config file of a project."""

from __future__ import annotations

import sys

from .common import add_project_dir, project_root


def register(sub) -> None:
    parser = sub.add_parser("validate", help="load and check every config file of a project")
    add_project_dir(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..errors import ConfigError
    from ..project import load_project

    root = project_root(args.project_dir)
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
