"""The project's stored tables: one protocol (`base`), one module per backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import MetricStore, Storage
from .duckdb import ArrowStream, DuckDBMetricStore, DuckDBStorage

if TYPE_CHECKING:
    from ..config import Project


def open_storage(project: "Project") -> Storage:
    """The storage the project's config selects (one DuckDB file per metric by default)."""
    return DuckDBStorage(project.storage_dir)


__all__ = ["ArrowStream", "DuckDBMetricStore", "DuckDBStorage", "MetricStore", "Storage", "open_storage"]
