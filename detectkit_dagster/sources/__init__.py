"""Running a metric's SQL and placing the result on its time grid (pure: no dagster).

One module per backend; each registers itself for its profile types in `base.REGISTRY`.
"""

from ..errors import SourceDataError, SourceError, TemplateError
from . import clickhouse as _clickhouse, duckdb as _duckdb, mysql as _mysql, postgres as _postgres  # noqa: F401
from .base import Source, make_source
from .clickhouse import ClickHouseSource
from .duckdb import DuckDBSource
from .loader import LoadedData, LoadStats, load_datapoints
from .mysql import MySQLSource
from .postgres import PostgresSource
from .template import check_template, render_query

__all__ = [
    "ClickHouseSource", "DuckDBSource", "LoadStats", "LoadedData", "MySQLSource", "PostgresSource", "Source",
    "SourceDataError", "SourceError", "TemplateError", "check_template", "load_datapoints", "make_source",
    "render_query",
]
