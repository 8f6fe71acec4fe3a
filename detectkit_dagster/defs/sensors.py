"""Sensors: alert dispatch (new events -> channels) and run-failure error alerts.

Neither touches DuckDB: dispatch reads the events that the alerts asset put into its
materialization metadata, and keeps its ledger in the sensor cursor.
"""

import json

import dagster as dg

from ..channels import DeliveryError, build_channel, error_message, message_for_event
from ..config import Project
from ..dispatch import Ledger
from ..timegrid import utc_now
from .alerts import EVENTS_TO_SEND

MAX_SENDS_PER_TICK = 50


def dispatch_sensor(project: Project) -> dg.SensorDefinition:
    @dg.sensor(
        name="detectkit_alert_dispatch",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Sends each new sendable alert event once per channel; retries failures with backoff.",
    )
    def alert_dispatch(context: dg.SensorEvaluationContext):
        ledger = Ledger.from_dict(json.loads(context.cursor) if context.cursor else None)
        now = utc_now()
        queued = collect_new_events(context.instance, project, ledger)
        sent, failed = deliver_due(project, ledger, now, context.log)
        ledger.prune(now)
        context.update_cursor(json.dumps(ledger.to_dict()))
        return dg.SkipReason(f"queued {queued}, sent {sent}, failed {failed}, pending {len(ledger.pending)}")

    return alert_dispatch


def collect_new_events(instance: dg.DagsterInstance, project: Project, ledger: Ledger) -> int:
    """Queue the sendable events of alert materializations the ledger has not seen yet."""
    queued = 0
    for metric in project.metrics:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey([metric.key, "alerts"]),
                                  after_storage_id=ledger.after.get(metric.key)),
            limit=1000, ascending=True,
        )
        for record in result.records:
            entry = record.asset_materialization.metadata.get(EVENTS_TO_SEND)
            for event in (entry.value if entry is not None else []):
                index = event["alert_index"]
                if index < len(metric.alerts):
                    queued += ledger.add(metric.name, event, metric.alerts[index].channels)
            ledger.after[metric.key] = record.storage_id
    return queued


def deliver_due(project: Project, ledger: Ledger, now, log) -> tuple[int, int]:
    sent = failed = 0
    for delivery in ledger.due(now)[:MAX_SENDS_PER_TICK]:
        event = delivery.event
        try:
            metric = project.metric(delivery.metric)
            alert = metric.alerts[event["alert_index"]]
        except (KeyError, IndexError):
            ledger.pending.pop(delivery.key)  # the metric or block was removed since
            continue
        if not alert.is_active or (alert.suppress_until_utc and now < alert.suppress_until_utc):
            ledger.pending.pop(delivery.key)  # disabled or suppressed since the event was computed
            log.info("not sending %s: alert block now disabled or suppressed", delivery.key)
            continue
        message = message_for_event(
            event, project=project.config.name, metric=metric.name, description=metric.description,
            interval_seconds=metric.interval_seconds, alert=alert, help_url=project.config.help_url)
        try:
            channel = build_channel(delivery.channel, project.profiles.alert_channels[delivery.channel],
                                    project.outbox_dir)
            channel.send(message)
        except (DeliveryError, ValueError, KeyError) as exc:
            delivery.failed(str(exc), now)
            failed += 1
            log.warning("sending %s failed (attempt %d): %s", delivery.key, delivery.attempts, exc)
            continue
        ledger.done(delivery, now)
        sent += 1
    return sent, failed


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
        error_type, error_text = _failure(context)
        message = error_message(
            project=project.config.name, metric=_failed_metric(context, project), error_type=error_type,
            error_text=error_text, at=utc_now(), mentions=settings.mentions, template=settings.template,
            timezone=settings.timezone, help_url=project.config.help_url)
        for name in settings.channels:
            try:
                build_channel(name, project.profiles.alert_channels[name], project.outbox_dir).send(message)
            except (DeliveryError, ValueError) as exc:
                context.log.warning("error alert to %s failed: %s", name, exc)

    return error_alerts


def _failure(context: dg.RunFailureSensorContext) -> tuple[str, str]:
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        if error is not None:
            cause = error.cause or error
            return cause.cls_name or "Error", (error.message if error.cls_name == "Failure" else cause.message).strip()
    return "RunFailure", context.failure_event.message or "run failed"


def _failed_metric(context: dg.RunFailureSensorContext, project: Project) -> str:
    """The failed metrics' names as their files give them (asset keys hold the safe key)."""
    selection = context.dagster_run.asset_selection or set()
    keys = {key.path[0] for key in selection} or {
        event.step_key.split("__")[0] for event in context.get_step_failure_events() if event.step_key}
    names = sorted(m.name for m in project.metrics if m.key in keys)
    return ", ".join(names) if names else context.dagster_run.job_name
