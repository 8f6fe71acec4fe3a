"""Keeping metrics fresh without anyone clicking: one sensor plans every metric's refresh.

Per metric, from the clock and the sensor's cursor:
- the newest partition on the metric's cron, and at once the first time the sensor sees it;
- the previous partition once more when its last interval (plus `loading_delay`) is complete,
  since that interval completes only after the partition boundary; older ones are never touched;
- after someone reloads a partition's datapoints alone, the rest of its chain, once.
A metric with a run in progress waits for it. The due metrics of one partition go into one run
that carries their whole chain (datapoints, detections, alerts, report and their checks), so a
tick is one run however many metrics there are, and a metric's failure fails only its steps.

Planning costs the daemon two queries per evaluation. Dagster's declarative automation evaluates
conditions per asset (about 13 ms an asset per evaluation here): at hundreds of metrics it cost
more CPU than the runs it launched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

import dagster as dg
from dagster._utils.schedules import reverse_cron_string_iterator

from ..partitioning import close_delay_minutes
from ..timegrid import utc_now
from .context import MetricContext

AUTOMATION = "detectkit_automation"
REFRESH_TAG = "detectkit/refresh"  # newest | close | follow
CHAIN = ("datapoints", "detections", "alerts", "report")
IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


@dataclass(frozen=True)
class Refresh:
    """One metric's schedule and the assets a refresh runs."""

    metric: str
    granularity: str
    partitions_def: dg.TimeWindowPartitionsDefinition
    cron: str
    close_cron: str
    close_delay: timedelta  # the loading delay, rounded up to the minute as `close_cron` is
    keys: tuple[dg.AssetKey, ...]  # the chain, datapoints first
    check_keys: tuple[dg.AssetCheckKey, ...]

    def newest(self, now: datetime) -> str:
        """The partition in progress (the partitions include it, so the newest data is monitored)."""
        return self.partitions_def.get_partition_key_for_timestamp(now.timestamp())

    def closing(self, close_tick: datetime) -> str | None:
        """The partition whose last interval became complete at `close_tick`."""
        last_moment = close_tick - self.close_delay - timedelta(microseconds=1)
        if last_moment < self.partitions_def.start:
            return None
        return self.partitions_def.get_partition_key_for_timestamp(last_moment.timestamp())


def refreshes(contexts: Iterable[MetricContext], assets: Iterable[dg.AssetsDefinition]) -> list[Refresh]:
    checks = {key: a.check_keys for a in assets for key in a.keys}
    plans = []
    for mc in contexts:
        keys = tuple(mc.key(table) for table in CHAIN)
        delay = timedelta(minutes=close_delay_minutes(mc.metric.loading_delay_seconds))
        plans.append(Refresh(mc.ident, mc.partitioning.granularity, mc.partitions_def, mc.partitioning.cron,
                             mc.partitioning.close_cron, delay, keys,
                             tuple(c for key in keys for c in checks.get(key, ()))))
    return plans


def last_tick(cron: str, now: datetime) -> datetime:
    return next(reverse_cron_string_iterator(now.timestamp(), cron, "UTC"))


Due = dict[tuple[str, str, str], list[tuple[Refresh, int, float]]]


def plan(plans: list[Refresh], cursor: dict, now: datetime, busy: set[str], reloaded: dict[str, tuple[int, str]]
         ) -> tuple[Due, dict]:
    """What is due now: {(granularity, partition, reason): [(refresh, first asset of the chain to
    run, what made it due: a cron tick or a storage id)]}, and the new cursor. `reloaded` maps a
    metric to the storage id and partition of its newest datapoints materialization when nothing
    downstream followed it yet."""
    due: Due = {}
    state = {refresh.metric: cursor[refresh.metric] for refresh in plans if refresh.metric in cursor}
    for refresh in plans:
        if refresh.metric in busy:
            continue  # its ticks stay unhandled until the run ends
        tick, close = last_tick(refresh.cron, now).timestamp(), last_tick(refresh.close_cron, now)
        seen = state.get(refresh.metric)
        newest, running = refresh.newest(now), set()  # running: partitions whose whole chain runs
        if seen is None or tick > seen["tick"]:
            due.setdefault((refresh.granularity, newest, "newest"), []).append((refresh, 0, tick))
            running.add(newest)
        if seen is not None and close.timestamp() > seen["close"]:
            previous = refresh.closing(close)
            if previous is not None and previous != newest:
                due.setdefault((refresh.granularity, previous, "close"), []).append((refresh, 0, close.timestamp()))
                running.add(previous)
        reload_id, reload_partition = reloaded.get(refresh.metric, (0, ""))
        if seen is not None and reload_id > seen.get("followed", 0) and reload_partition not in running:
            due.setdefault((refresh.granularity, reload_partition, "follow"), []).append((refresh, 1, reload_id))
        state[refresh.metric] = {"tick": tick, "close": close.timestamp(),
                                 "followed": max(reload_id, (seen or {}).get("followed", 0))}
    return due, state


def _busy(instance: dg.DagsterInstance, owners: dict[dg.AssetKey, str]) -> set[str]:
    """Metrics with an asset in a run that has not finished (whoever started it)."""
    runs = instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS))
    return {owners[key] for run in runs for key in (run.asset_selection or ()) if key in owners}


def _reloaded(instance: dg.DagsterInstance, plans: list[Refresh]) -> dict[str, tuple[int, str]]:
    """Metrics whose newest datapoints materialization is newer than their detections'."""
    records = {r.asset_entry.asset_key: r.asset_entry.last_materialization_record
               for r in instance.get_asset_records([key for p in plans for key in p.keys[:2]])}
    reloaded = {}
    for refresh in plans:
        loaded, detected = (records.get(key) for key in refresh.keys[:2])
        if loaded is not None and (detected is None or detected.storage_id < loaded.storage_id):
            partition = loaded.event_log_entry.dagster_event.partition
            if partition is not None:
                reloaded[refresh.metric] = (loaded.storage_id, partition)
    return reloaded


def run_requests(due: Due) -> list[dg.RunRequest]:
    requests = []
    for (granularity, partition, reason), members in sorted(due.items(), key=lambda item: item[0]):
        keys = [key for refresh, first, _ in members for key in refresh.keys[first:]]
        checks = [c for refresh, first, _ in members for c in refresh.check_keys if c.asset_key in refresh.keys[first:]]
        # The same for a tick evaluated again after its cursor was lost, so it launches once.
        stamp = hashlib.sha256(json.dumps(sorted((r.metric, first, cause) for r, first, cause in members)
                                          ).encode()).hexdigest()[:16]
        requests.append(dg.RunRequest(
            run_key=f"{partition}-{reason}-{stamp}", job_name=refresh_job_name(granularity),
            partition_key=partition, asset_selection=keys, asset_check_keys=checks,
            tags={REFRESH_TAG: reason}))
    return requests


def refresh_job_name(granularity: str) -> str:
    return f"detectkit_refresh_{granularity}"


def refresh_jobs(plans: list[Refresh]) -> list[dg.UnresolvedAssetJobDefinition]:
    """One job per partition granularity: a run holds one partition of many metrics."""
    chains: dict[str, list[dg.AssetKey]] = {}
    for refresh in plans:
        chains.setdefault(refresh.granularity, []).extend(refresh.keys)
    return [dg.define_asset_job(refresh_job_name(g), selection=dg.AssetSelection.assets(*keys),
                                description=f"Refreshes {g} partitions of metrics (launched by {AUTOMATION}).")
            for g, keys in sorted(chains.items())]


def evaluation_interval_seconds(interval_seconds: Iterable[int]) -> int:
    """A tenth of the shortest metric interval, within 30 s to 5 minutes: lag nobody notices."""
    return min(max(min(interval_seconds, default=300) // 10, 30), 300)


def automation_sensor(plans: list[Refresh], jobs: list, interval_seconds: int) -> dg.SensorDefinition:
    owners = {key: refresh.metric for refresh in plans for key in refresh.keys}

    # RUNNING by default: in open-source Dagster nothing is automated until this sensor runs.
    @dg.sensor(name=AUTOMATION, jobs=jobs, minimum_interval_seconds=interval_seconds,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Loads each metric's newest partition on its cron (and the previous one once it "
                           "is complete) and updates everything downstream, all due metrics in one run.")
    def detectkit_automation(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        now = utc_now().replace(tzinfo=timezone.utc)
        due, cursor = plan(plans, json.loads(context.cursor or "{}"), now,
                           _busy(context.instance, owners), _reloaded(context.instance, plans))
        return dg.SensorResult(run_requests=run_requests(due), cursor=json.dumps(cursor))

    return detectkit_automation
