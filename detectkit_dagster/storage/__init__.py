"""The project's stored tables: one protocol (`base`), one module per backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config.project import PostgresStore
from .base import MetricStore, Storage, Write
from .duckdb import ArrowStream, DuckDBMetricStore, DuckDBStorage

if TYPE_CHECKING:
    from ..config import Project


def open_storage(project: "Project") -> Storage:
    """The storage `detectkit_project.yml` selects: one DuckDB file per metric (the default)
    or the shared PostgreSQL schema."""
    store = project.config.store
    if isinstance(store, PostgresStore):
        from .postgres import PostgresStorage  # psycopg only where it is used

        return PostgresStorage(store.dsn.get_secret_value(), store.schema_name, store.connect_timeout,
                               store.statement_timeout_seconds)
    return DuckDBStorage(project.storage_dir)


__all__ = ["ArrowStream", "DuckDBMetricStore", "DuckDBStorage", "MetricStore", "Storage", "Write", "open_storage"]
