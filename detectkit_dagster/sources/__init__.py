"""Running a metric's SQL and placing the result on its time grid (pure: no dagster).

One module per backend; each registers itself for its profile types in `base.REGISTRY`.
"""

from ..errors import SourceDataError, SourceError, TemplateError
from . import duckdb as _duckdb, postgres as _postgres  # noqa: F401  (register the backends)
from .base import Source, make_source
from .duckdb import DuckDBSource
from .loader import LoadedData, LoadStats, load_datapoints
from .postgres import PostgresSource
from .template import check_template, render_query

__all__ = [
    "DuckDBSource", "LoadStats", "LoadedData", "PostgresSource", "Source", "SourceDataError",
    "SourceError", "TemplateError", "check_template", "load_datapoints", "make_source", "render_query",
]
