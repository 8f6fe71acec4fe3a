"""A failed run handed to the project's error-alert sensor, as the daemon would."""

from __future__ import annotations

import dagster as dg

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # the run is meant to fail


def fail_and_alert(defs: dg.Definitions, instance: dg.DagsterInstance,
                   partition: str = "2024-01-01") -> dg.ExecuteInProcessResult:
    """Materialize every `datapoints` asset of one partition (the caller arranges for it to
    fail), then evaluate `detectkit_error_alerts` on the run's failure."""
    result = dg.materialize([a for a in defs.assets if a.key.path[-1] == "datapoints"], instance=instance,
                            partition_key=partition, resources=defs.resources, run_config=QUIET,
                            raise_on_error=False)
    failure = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0]
    context = dg.build_run_status_sensor_context(
        sensor_name="detectkit_error_alerts", dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id), dagster_event=failure.dagster_event,
    ).for_run_failure()
    defs.resolve_sensor_def("detectkit_error_alerts")(context)
    return result
