"""Alert delivery as a pipeline of small stages (pure apart from the channel sends):
collect -> route -> mute -> render -> send -> record.

Bounded work: a pass stops starting sends when the next one could outlast its time budget
(each send is bounded by its channel's total deadline), and a channel that failed in a pass
gets no more sends in that pass, so one hung channel cannot hold the others or the pass.
Every outcome is handed to `record` the moment it happens, which makes a send durable before
the next one starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable

from ..channels import build_channel, message_for_event
from ..errors import DeliveryError
from .ledger import KEEP_SENT, Delivery, Ledger


@dataclass(frozen=True)
class Outcome:
    delivery: Delivery
    status: str  # sent | failed | dropped
    error: str | None = None
    retryable: bool = True


@dataclass
class PassReport:
    queued: int = 0
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    deferred: int = 0
    pending: int = 0  # left in the ledger after the pass
    lines: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"queued {self.queued}, sent {self.sent}, failed {self.failed}, dropped {self.dropped}, "
                f"deferred {self.deferred}, pending {self.pending}")


def collect(project, ledger: Ledger, metric_key: str, events: Iterable[dict], now: datetime) -> int:
    """Queue the sendable events of one materialization for the channels of their block."""
    try:
        metric = project.metric(metric_key)
    except KeyError:
        return 0
    queued = 0
    for event in events:
        alert = route(metric, event)
        # An event older than the sent-keys memory could not be told apart from a sent one.
        if alert is None or datetime.fromisoformat(str(event["timestamp"])) < now - KEEP_SENT:
            continue
        queued += ledger.add(metric.key, event, alert.channels)
    return queued


def route(metric, event: dict):
    """The alert block an event belongs to (by its config id: blocks may be reordered)."""
    return next((a for a in metric.alerts if a.config_id == event.get("config_id")), None)


def mute(alert, now: datetime) -> str | None:
    if not alert.is_active:
        return "alert block now disabled or without channels"
    if alert.suppress_until_utc and now < alert.suppress_until_utc:
        return f"suppressed until {alert.suppress_until}"
    return None


def render(project, metric, alert, event: dict):
    return message_for_event(
        event, project=project.config.name, metric=metric.name, description=metric.description,
        interval_seconds=metric.interval_seconds, alert=alert, help_url=project.config.help_url)


def send_seconds(channel) -> float:
    """The longest one send to the channel can take: its total deadline (none for local ones)."""
    return float(getattr(channel, "timeout", 0) or 0)


def deliver(project, ledger: Ledger, now: datetime, budget_seconds: float, record: Callable[[Outcome], None],
            report: PassReport | None = None, clock: Callable[[], float] = time.monotonic) -> PassReport:
    report = report or PassReport()
    deadline = clock() + budget_seconds
    down: set[str] = set()
    channels: dict[str, object] = {}
    for delivery in ledger.due(now):
        outcome = _one(project, ledger, delivery, now, deadline, down, channels, clock)
        if outcome is None:
            report.deferred += 1
            continue
        record(outcome)
        setattr(report, outcome.status, getattr(report, outcome.status) + 1)
        if outcome.status != "sent":
            report.lines.append(f"{outcome.status} {delivery.key}: {outcome.error}")
    return report


def _one(project, ledger, delivery: Delivery, now, deadline, down, channels, clock) -> Outcome | None:
    try:
        metric = project.metric(delivery.metric)
    except KeyError:
        metric = None
    alert = metric and route(metric, delivery.event)
    if alert is None:
        ledger.pending.pop(delivery.key)
        return Outcome(delivery, "dropped", "the metric or its alert block was removed", False)
    reason = mute(alert, now)
    if reason:
        ledger.pending.pop(delivery.key)
        return Outcome(delivery, "dropped", reason, False)
    if delivery.channel in down:
        return None
    try:
        channel = channels.get(delivery.channel) or build_channel(
            delivery.channel, project.profiles.alert_channels[delivery.channel], project.outbox_dir)
        channels[delivery.channel] = channel
        if clock() + send_seconds(channel) > deadline:
            return None  # it might not finish within this pass: the next one starts with it
        channel.send(render(project, metric, alert, delivery.event))
    except (DeliveryError, KeyError, ValueError) as exc:
        retryable = exc.retryable if isinstance(exc, DeliveryError) else False
        text = str(exc) if isinstance(exc, DeliveryError) else f"{delivery.channel}: {exc}"
        delivery.failed(text, now, retryable)
        down.add(delivery.channel)
        return Outcome(delivery, "failed", text, retryable)
    ledger.done(delivery, now)
    return Outcome(delivery, "sent")
