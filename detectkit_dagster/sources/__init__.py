"""Running a metric's SQL and placing the result on its time grid (pure: no dagster)."""

from .backends import DuckDBSource, PostgresSource, SourceError, make_source
from .loader import LoadedData, LoadStats, SourceDataError, load_datapoints
from .template import QueryTemplateError, check_template, render_query

__all__ = [
    "DuckDBSource", "LoadStats", "LoadedData", "PostgresSource", "QueryTemplateError",
    "SourceDataError", "SourceError", "check_template", "load_datapoints", "make_source",
    "render_query",
]
