"""Keeping metrics fresh without anyone clicking.

`datapoints` loads the newest partition on the metric's cron, at once when it is missing, and
the previous partition once more when its last interval (plus `loading_delay`) is complete,
since that interval completes only after the partition boundary. Older partitions are never
touched. Everything downstream follows the partitions that were loaded, in the same tick.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Iterable

import dagster as dg

from ..partitioning import Partitioning, longest_partition_seconds

AC = dg.AutomationCondition


def _newest_two(partitioning: Partitioning, delay_seconds: int) -> AC:
    """The newest partition and the one(s) whose last interval completes after the boundary
    (Dagster counts the partitions that lie wholly within the look-back)."""
    reach = 2 * longest_partition_seconds(partitioning.granularity) + delay_seconds
    return AC.in_latest_time_window(timedelta(seconds=reach))


def loading_condition(partitioning: Partitioning, delay_seconds: int) -> AC:
    # newly_missing is also true on the first evaluation, right after the code location loads.
    newest = AC.in_latest_time_window() & (
        AC.cron_tick_passed(partitioning.cron, cron_timezone="UTC").since_last_handled() | AC.newly_missing())
    # Reset by a request only, not by an update: the newest partition's last run may finish
    # in the same sensor interval as the boundary, and the close must still happen.
    previous = (_newest_two(partitioning, delay_seconds) & ~AC.in_latest_time_window()
                & AC.cron_tick_passed(partitioning.close_cron, cron_timezone="UTC").since(AC.newly_requested()))
    return ((newest | previous) & ~AC.in_progress()).with_label("newest on cron, previous once complete")


def downstream_condition(partitioning: Partitioning, delay_seconds: int) -> AC:
    """What loading requested or updated, followed in the same tick, once nothing upstream is in
    progress. Leaner than Dagster's eager (no partition status lookups for missing partitions),
    which matters when the daemon evaluates hundreds of metrics at every evaluation."""
    followed = AC.any_deps_updated().since_last_handled() & ~AC.any_deps_in_progress() & ~AC.in_progress()
    return (_newest_two(partitioning, delay_seconds) & followed).with_label(
        "deps updated, over the newest partition and the one being closed")


def evaluation_interval_seconds(interval_seconds: Iterable[int]) -> int:
    """A tenth of the shortest metric interval, within 30 s to 5 minutes: each evaluation costs
    the daemon time per asset, and a tenth of an interval is lag nobody notices."""
    return min(max(min(interval_seconds, default=300) // 10, 30), 300)


def automation_sensor(asset_keys: Iterable[dg.AssetKey], interval_seconds: int) -> dg.AutomationConditionSensorDefinition:
    # RUNNING by default: in open-source Dagster nothing is automated until this sensor runs.
    # It targets this project's assets only, so the project merges into a larger Definitions.
    return dg.AutomationConditionSensorDefinition(
        "detectkit_automation",
        target=dg.AssetSelection.assets(*asset_keys),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_seconds,
        description="Loads each metric's newest partition on its cron (and the previous one once it is "
                    "complete) and updates everything downstream.",
    )
