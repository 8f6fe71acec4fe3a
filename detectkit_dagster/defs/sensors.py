"""Sensors: alert dispatch (new events -> channels) and run-failure error alerts.

Neither touches the store. Dispatch reads the events that the alerts asset put into its
materialization metadata and keeps its ledger in the sensor cursor. Every send is recorded at
once as an `AssetObservation` on the metric's alerts asset (event id, channel, outcome): that
is what the UI shows, and what a tick reads before it sends, so a tick that died before its
cursor was saved repeats no send. Each tick's sends fit a budget well under Dagster's sensor
deadline.
"""

import json
import time

import dagster as dg

from ..channels import build_channel, error_message
from ..config import Project
from ..dispatch import Ledger, Outcome, PassReport, collect, deliver, send_seconds
from ..errors import DeliveryError
from ..timegrid import utc_now
from .alerts import EVENTS_TO_SEND

TICK_BUDGET_SECONDS = 40.0  # Dagster kills a sensor evaluation after 60 s
DISPATCH = "detectkit/dispatch"  # observation metadata marker
PAGE = 500


def dispatch_sensor(project: Project) -> dg.SensorDefinition:
    @dg.sensor(
        name="detectkit_alert_dispatch",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Sends each new sendable alert event once per channel; retries failures with backoff.",
    )
    def alert_dispatch(context: dg.SensorEvaluationContext):
        ledger = Ledger.from_dict(json.loads(context.cursor) if context.cursor else None)
        report = dispatch_pass(context.instance, project, ledger, context.log)
        context.update_cursor(json.dumps(ledger.to_dict()))
        return dg.SkipReason(report.summary())

    return alert_dispatch


def dispatch_pass(instance: dg.DagsterInstance, project: Project, ledger: Ledger, log,
                  budget_seconds: float = TICK_BUDGET_SECONDS) -> PassReport:
    """One tick of dispatch: queue new events, drop those already recorded as sent, send what is due.
    The budget counts from the start of the tick, reading the event log included."""
    started = time.monotonic()
    now = utc_now()
    report = PassReport()
    report.queued = _queue_new_events(instance, project, ledger, now)
    _catch_up(instance, ledger)

    def record(outcome: Outcome) -> None:
        instance.report_runless_asset_event(_observation(outcome))
        log.info("%s %s%s", outcome.status, outcome.delivery.key, f": {outcome.error}" if outcome.error else "")

    deliver(project, ledger, now, budget_seconds - (time.monotonic() - started), record, report)
    ledger.prune(now)
    report.pending = len(ledger.pending)
    return report


def _records(fetch, key: dg.AssetKey, after: int | None):
    """Event records of one asset after a storage id, oldest first, page by page."""
    cursor = None
    while True:
        page = fetch(dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=PAGE, cursor=cursor,
                     ascending=True)
        yield from page.records
        if not page.has_more:
            return
        cursor = page.cursor


def _catch_up(instance: dg.DagsterInstance, ledger: Ledger) -> None:
    """Drop pending deliveries that a send record shows as sent (by a tick whose cursor was
    never saved). Only metrics with pending deliveries can have such records to read."""
    for metric in sorted({d.metric for d in ledger.pending.values()}):
        for record in _records(instance.fetch_observations, dg.AssetKey([metric, "alerts"]),
                               ledger.recorded_after.get(metric)):
            meta = record.asset_observation.metadata
            if DISPATCH in meta and meta["outcome"].value == "sent":
                ledger.mark_sent(meta[DISPATCH].value, meta["at"].value)
            ledger.recorded_after[metric] = record.storage_id


def _queue_new_events(instance: dg.DagsterInstance, project: Project, ledger: Ledger, now) -> int:
    """Events of alerts materializations not seen yet. One query finds the metrics that have
    any: a tick with nothing new costs the same for ten metrics as for hundreds."""
    keys = [dg.AssetKey([metric.key, "alerts"]) for metric in project.metrics]
    queued = 0
    for asset in instance.get_asset_records(keys):
        metric, latest = asset.asset_entry.asset_key.path[0], asset.asset_entry.last_materialization_storage_id
        if latest is None or latest <= ledger.after.get(metric, -1):
            continue
        for record in _records(instance.fetch_materializations, asset.asset_entry.asset_key, ledger.after.get(metric)):
            entry = record.asset_materialization.metadata.get(EVENTS_TO_SEND)
            if entry is not None:
                queued += collect(project, ledger, metric, entry.value, now)
            ledger.after[metric] = record.storage_id
    return queued


def _observation(outcome: Outcome) -> dg.AssetObservation:
    d = outcome.delivery
    metadata = {DISPATCH: d.key, "event_id": d.event["event_id"], "channel": d.channel,
                "kind": d.event.get("kind", ""), "event_time": str(d.event["timestamp"]),
                "outcome": outcome.status, "attempt": d.attempts + (outcome.status == "sent"),
                "at": utc_now().isoformat()}
    if outcome.error:
        metadata["error"] = outcome.error
        metadata["will_retry"] = outcome.status == "failed"
    return dg.AssetObservation(asset_key=dg.AssetKey([d.metric, "alerts"]), metadata=metadata)


def error_alert_sensor(project: Project) -> dg.SensorDefinition:
    settings = project.config.error_alerting

    @dg.run_failure_sensor(
        name="detectkit_error_alerts",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Sends one error alert per failed run to the project's error_alerting channels.",
    )
    def error_alerts(context: dg.RunFailureSensorContext):
        if not settings.enabled or not settings.channels:
            return dg.SkipReason("error_alerting is not enabled")
        metrics, error_type, error_text = _failure(context)
        message = error_message(
            project=project.config.name, metric=metrics, error_type=error_type,
            error_text=error_text, at=utc_now(), mentions=settings.mentions, template=settings.template,
            timezone=settings.timezone, help_url=project.config.help_url)
        deadline = time.monotonic() + TICK_BUDGET_SECONDS  # one hung channel must not sink the tick
        for name in settings.channels:
            try:
                channel = build_channel(name, project.profiles.alert_channels[name], project.outbox_dir)
                if time.monotonic() + send_seconds(channel) > deadline:
                    context.log.warning("error alert to %s not sent: it might not finish within this tick", name)
                    continue
                channel.send(message)
            except (DeliveryError, ValueError) as exc:
                context.log.warning("error alert to %s failed: %s", name, exc)

    def _failure(context: dg.RunFailureSensorContext) -> tuple[str, str, str]:
        """The metrics whose steps failed (a run may refresh many) and the first error."""
        names, first = [], None
        for event in context.get_step_failure_events():
            key = event.step_key or ""
            metric = _metric_of_step(project, key)
            if metric and metric not in names:
                names.append(metric)
            error = event.step_failure_data.error
            if error is not None and first is None:
                cause = error.cause or error
                first = (cause.cls_name or "Error",
                         (error.message if error.cls_name == "Failure" else cause.message).strip())
        if first is None:
            first = ("RunFailure", context.failure_event.message or "run failed")
        label = ", ".join(names) or context.dagster_run.job_name
        return label, *first

    return error_alerts


def _metric_of_step(project: Project, step_key: str) -> str | None:
    """Step keys of asset steps are '<metric key>__<table>'."""
    prefix = step_key.rsplit("__", 1)[0] if "__" in step_key else step_key
    try:
        return project.metric(prefix).name
    except KeyError:
        return None
