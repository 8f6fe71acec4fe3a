"""Keeping the newest partition fresh without anyone clicking: cron on loading, eager after it."""

import dagster as dg


def loading_condition(cron: str) -> dg.AutomationCondition:
    return dg.AutomationCondition.on_cron(cron, cron_timezone="UTC")


def downstream_condition() -> dg.AutomationCondition:
    """Eager, but without waiting for lookback partitions that were never loaded: on a fresh
    install only the newest datapoints partition exists, and it must still be monitored."""
    return dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    # RUNNING by default: in open-source Dagster nothing is automated until this sensor runs.
    return dg.AutomationConditionSensorDefinition(
        "detectkit_automation",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Loads each metric's newest partition on its cron and updates everything downstream.",
    )
