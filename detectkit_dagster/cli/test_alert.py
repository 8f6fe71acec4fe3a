"""`detectkit-dagster test-alert`: send the mock alert through a metric's channels, as a run of
the project's `test_alert` job (so it shows in the Dagster UI). Every message says TEST."""

from __future__ import annotations

from .common import QUIET, add_project_dir, fail, find_metric, load, prepare_dagster_home, project_root

OP = "send_test_alert"


def register(sub) -> None:
    parser = sub.add_parser("test-alert", help="send a mock alert, marked TEST, through a metric's channels")
    parser.add_argument("name", help="metric name")
    add_project_dir(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    import dagster as dg

    from ..defs.jobs import test_alert_job

    root = project_root(args.project_dir)
    project = load(root)
    find_metric(project, args.name)  # before any run: no failed run for a typo
    prepare_dagster_home(root)
    result = test_alert_job(project).execute_in_process(
        run_config={"ops": {OP: {"config": {"metric": args.name}}}, **QUIET}, instance=dg.DagsterInstance.get(),
        raise_on_error=False)
    for event in result.all_events:
        if event.is_successful_output:
            _print_channels(event.step_output_data.metadata)
        elif event.is_step_failure:
            data = event.step_failure_data
            _print_channels(data.user_failure_data.metadata if data.user_failure_data else {})
            description = data.user_failure_data.description if data.user_failure_data else data.error.message
            return fail(f"{description} (run {result.run_id})")
    return 0


def _print_channels(metadata) -> None:
    for channel, value in metadata.items():
        print(f"{channel}: {getattr(value, 'value', value)}")
