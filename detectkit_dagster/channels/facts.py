"""The facts of a message as (label, value) pairs, shared by the card-style channels
(Discord, Teams, Google Chat): one place decides what each kind shows."""

from __future__ import annotations

from typing import Any, Mapping

from detectkit_dagster.channels.message import AlertMessage
from detectkit_dagster.channels.render import error_detail

NO_DATA_LEAD = "Query returned no datapoint for the latest expected interval."
ERROR_LEAD = "The detectkit pipeline failed for this metric."


def lead(message: AlertMessage, context: Mapping[str, Any]) -> str:
    """The sentence under the title."""
    if message.kind == "anomaly":
        return context["anomaly_lead"]
    if message.kind == "recovery":
        return context["recovery_lead"]
    return NO_DATA_LEAD if message.kind == "no_data" else ERROR_LEAD


def facts(message: AlertMessage, context: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Short facts in reading order; empty values are left out."""
    c, kind = context, message.kind
    rows: list[tuple[str, str]] = []
    if kind in ("anomaly", "recovery"):
        rows += [("Value", c["value_display"]), ("Expected", c["expected_range"])]
    if kind == "anomaly":
        rows += [("Quorum", c["quorum_display"]),
                 ("Severity", f"{message.severity:.2f}")]
    if kind in ("anomaly", "recovery"):
        if message.onset is not None:
            rows += [("Started", c["started_display"]), ("Latest" if kind == "anomaly" else "Cleared", c["timestamp"])]
        else:
            rows.append(("Detected at" if kind == "anomaly" else "Cleared at", c["timestamp"]))
        rows += [("Detectors", c["detector_name"]), ("Rule", c["rule_display"])]
    if kind == "no_data":
        rows.append(("Expected at", c["timestamp"]))
    if kind == "error":
        rows += [("Detected at", c["timestamp"]), ("Error", error_detail(message))]
    return [(label, value) for label, value in rows if value]
