"""The alert engine: quorum, streak, cooldown, recovery and no-data rules replayed over detections.

Pure (numpy/polars/pydantic, no I/O). `replay` turns one alert block and the detections of a
range into alert events; `mark_delivery` says which of them dispatch may send.
"""

from detectkit_dagster.alerting.delivery import mark_delivery
from detectkit_dagster.alerting.events import EVENT_SCHEMA, event_id
from detectkit_dagster.alerting.replay import (
    replay,
    replay_blocks,
    replay_blocks_with_state,
    replay_with_state,
)
from detectkit_dagster.alerting.state import ReplayState

__all__ = [
    "EVENT_SCHEMA",
    "ReplayState",
    "event_id",
    "mark_delivery",
    "replay",
    "replay_blocks",
    "replay_blocks_with_state",
    "replay_with_state",
]
