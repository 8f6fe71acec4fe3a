"""`detectkit-dagster validate`: load and check every config file of a project."""

from __future__ import annotations

from .common import add_project_dir, fail, load, project_root


def register(sub) -> None:
    parser = sub.add_parser("validate", help="load and check every config file of a project")
    add_project_dir(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..errors import DetectkitError

    root = project_root(args.project_dir)
    try:
        project = load(root)
    except DetectkitError as exc:
        return fail(f"invalid project: {exc}")
    print(f"project {project.config.name!r} at {root}: {len(project.metrics)} metric(s) valid")
    for metric in project.metrics:
        detectors = ", ".join(d.type for d in metric.detectors) or "no detectors"
        profile, _ = project.profile_for(metric)
        print(f"  {metric.name}: every {metric.interval}, {detectors}, {len(metric.alerts)} alert block(s), "
              f"source {profile}")
    if project.disabled:
        print(f"  disabled: {', '.join(project.disabled)}")
    return 0
