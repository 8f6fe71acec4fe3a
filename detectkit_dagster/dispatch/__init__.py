"""Sending alert events to channels exactly once, with retries (pure: no dagster)."""

from .ledger import KEEP_SENT, Delivery, Ledger
from .stages import Outcome, PassReport, collect, deliver, mute, render, route, send_seconds

__all__ = ["KEEP_SENT", "Delivery", "Ledger", "Outcome", "PassReport", "collect", "deliver", "mute", "render",
           "route", "send_seconds"]
