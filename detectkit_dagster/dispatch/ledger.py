"""Delivery bookkeeping for alert events (pure): what to send, what was sent, when to retry.

The ledger is a small JSON-serialisable structure kept in the dispatch sensor's cursor, so
the sensor never touches the store. Each (event, channel) pair is sent until it succeeds;
a failure that may pass backs off exponentially, one that will not (a refused request) waits
the longest backoff, so a fixed channel config still gets it. What was sent is also recorded
durably the moment it is sent (see `dispatch.stages`), so a tick that dies before its cursor
is saved repeats nothing; every message carries its event id for de-duplication.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=1)
KEEP_SENT = timedelta(days=14)


@dataclass
class Delivery:
    """One event to one channel."""

    key: str  # "<event_id>|<channel>"
    metric: str
    channel: str
    event: dict
    attempts: int = 0
    next_try: str | None = None  # ISO time; None = now
    last_error: str | None = None
    channel_down: bool = False  # the last failure says the channel, not this message, failed

    def due(self, now: datetime) -> bool:
        return self.next_try is None or datetime.fromisoformat(self.next_try) <= now

    def failed(self, error: str, now: datetime, retryable: bool = True) -> None:
        self.attempts += 1
        delay = min(FIRST_RETRY * 2 ** (self.attempts - 1), MAX_RETRY) if retryable else MAX_RETRY
        self.next_try = (now + delay).isoformat()
        self.last_error = error
        self.channel_down = retryable


@dataclass
class Ledger:
    after: dict[str, int] = field(default_factory=dict)  # metric -> last alerts materialization seen
    pending: dict[str, Delivery] = field(default_factory=dict)
    sent: dict[str, str] = field(default_factory=dict)  # delivery key -> sent at (ISO)
    recorded_after: dict[str, int] = field(default_factory=dict)  # metric -> last send record seen

    def add(self, metric: str, event: dict, channels: list[str]) -> int:
        """Queue an event for each channel unless already queued or sent; returns how many."""
        added = 0
        for channel in channels:
            key = f"{event['event_id']}|{channel}"
            if key not in self.sent and key not in self.pending:
                self.pending[key] = Delivery(key, metric, channel, event)
                added += 1
        return added

    def due(self, now: datetime) -> list[Delivery]:
        """Deliveries to try now, oldest event first. A channel that is down (its last failure
        may pass, and its backoff runs) gets nothing until that delivery's retry probes it."""
        down = {d.channel for d in self.pending.values() if d.channel_down and not d.due(now)}
        ready = (d for d in self.pending.values() if d.due(now) and d.channel not in down)
        return sorted(ready, key=lambda d: (d.event["timestamp"], d.key))

    def done(self, delivery: Delivery, now: datetime) -> None:
        self.pending.pop(delivery.key, None)
        self.sent[delivery.key] = now.isoformat()

    def mark_sent(self, key: str, at: str) -> None:
        """A send recorded durably (possibly by a tick whose cursor was lost)."""
        self.pending.pop(key, None)
        self.sent.setdefault(key, at)

    def prune(self, now: datetime) -> None:
        cutoff = now - KEEP_SENT
        self.sent = {k: t for k, t in self.sent.items() if datetime.fromisoformat(t) >= cutoff}

    def to_dict(self) -> dict:
        return {
            "after": self.after,
            "pending": {k: vars(d) for k, d in self.pending.items()},
            "sent": self.sent,
            "recorded_after": self.recorded_after,
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> "Ledger":
        data = data or {}
        pending = {k: Delivery(**d) for k, d in data.get("pending", {}).items()}
        return cls(dict(data.get("after") or {}), pending, dict(data.get("sent", {})),
                   dict(data.get("recorded_after") or {}))
