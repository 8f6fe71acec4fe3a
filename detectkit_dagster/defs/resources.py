"""The project's storage as a Dagster resource: assets, the I/O manager, sensors and jobs get it
injected, so a deployment picks where tables live by configuration, never inside an asset."""

from __future__ import annotations

# The resource is the storage object itself (`storage.open_storage(project)`), not resource
# config: the PostgreSQL DSN it holds never reaches Dagster's run config, metadata or logs.
STORAGE = "detectkit_storage"
