"""One writer per metric at a time, across runs: a Dagster pool per metric with one slot.

The limits are set per pool on the instance, so nothing instance-wide (`default_limit`) is
needed and other code locations' pools are left alone. The stores also wait for each other
(DuckDB lock backoff, PostgreSQL advisory locks), so a missing limit costs waiting, not data.
"""

from __future__ import annotations

import dagster as dg

from ..config import Project
from .context import metric_contexts


def ensure_pool_limits(instance: dg.DagsterInstance, project: Project, slots: int = 1) -> list[str]:
    """Give every metric's pool `slots` slots where no limit is set yet; the pools it set."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    known = storage.get_concurrency_keys()
    missing = [mc.pool for mc in metric_contexts(project) if mc.pool not in known]
    for pool in missing:
        storage.set_concurrency_slots(pool, slots)
    return missing
