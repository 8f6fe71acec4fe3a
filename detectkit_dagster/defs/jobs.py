"""Jobs for people: send a test alert through a metric's channels; clean orphaned rows."""

import dagster as dg

from ..channels import DeliveryError, build_channel, test_message
from ..config import Project
from ..pipeline import STATE_TABLE, build_detectors, state_key
from ..timegrid import utc_now
from .context import MetricContext, metric_contexts
from .resources import STORAGE


class TestAlertConfig(dg.Config):
    metric: str


def test_alert_job(project: Project) -> dg.JobDefinition:
    @dg.op(description="Sends a mock alert through every channel of the metric's active alert blocks.")
    def send_test_alert(context: dg.OpExecutionContext, config: TestAlertConfig) -> dg.Output[None]:
        try:
            metric = project.metric(config.metric)
        except KeyError:
            names = ", ".join(m.name for m in project.metrics)
            raise dg.Failure(f"no metric named {config.metric!r}; metrics: {names}") from None
        results, failures = {}, []
        for alert in (a for a in metric.alerts if a.is_active):
            message = test_message(project=project.config.name, metric=metric.name, description=metric.description,
                                   interval_seconds=metric.interval_seconds, alert=alert,
                                   help_url=project.config.help_url, now=utc_now())
            for name in alert.channels:
                try:
                    build_channel(name, project.profiles.alert_channels[name], project.outbox_dir).send(message)
                    results[name] = "sent"
                except (DeliveryError, ValueError) as exc:
                    results[name] = f"failed: {exc}"
                    failures.append(name)
        if not results:
            raise dg.Failure(f"metric {metric.name!r} has no active alert block with channels")
        if failures:
            raise dg.Failure(f"test alert failed on {', '.join(failures)}", metadata=results)
        return dg.Output(None, metadata=results)

    @dg.job(name="test_alert", description="Send a mock alert through a metric's channels.")
    def test_alert():
        send_test_alert()

    return test_alert


def clean_job(project: Project) -> dg.JobDefinition:
    """One op per metric, each in its metric's pool, so cleaning never fights a running write."""
    ops = [_clean_op(mc) for mc in metric_contexts(project)]

    @dg.job(name="clean", description="Delete stored rows of detectors and alert blocks that are no longer configured.")
    def clean():
        for op in ops:
            op()

    return clean


def _clean_op(mc: MetricContext) -> dg.OpDefinition:
    detector_ids = [d.detector_id for d in build_detectors(mc.metric)]
    config_ids = [a.config_id for a in mc.metric.alerts]
    state_keys = [state_key(c, detector_ids) for c in config_ids]

    @dg.op(name=f"clean_{mc.ident}", pool=mc.pool, required_resource_keys={STORAGE})
    def clean_metric(context: dg.OpExecutionContext) -> dg.Output[None]:
        store = getattr(context.resources, STORAGE).metric(mc.ident)
        removed = {
            "detections": store.delete_other_keys("detections", "detector_id", detector_ids),
            "alerts": store.delete_other_keys("alerts", "config_id", config_ids),
            "alert_state": store.delete_other_keys(STATE_TABLE, "state_key", state_keys),
        }
        context.log.info("%s: removed %s", mc.name, removed)
        return dg.Output(None, metadata={f"removed_{k}_rows": v for k, v in removed.items()})

    return clean_metric
