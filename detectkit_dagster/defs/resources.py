"""The project's storage as a Dagster resource: assets, the I/O manager, sensors and jobs get it
injected, so a deployment picks where tables live by configuration, never inside an asset."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from dagster_duckdb import DuckDBResource

from ..config import Project
from ..storage import Storage, open_storage
from ..storage.duckdb import CONNECTION_CONFIG

STORAGE = "detectkit_storage"


@contextmanager
def _duckdb_connection(path: Path):
    """dagster-duckdb's connection factory (it waits with backoff while another process holds
    the file), closed also when the work inside fails."""
    factory = DuckDBResource(database=str(path), connection_config=CONNECTION_CONFIG).get_connection()
    con = factory.__enter__()
    try:
        yield con
    finally:
        con.close()


def project_storage(project: Project) -> Storage:
    """The storage `detectkit_project.yml` selects; DuckDB files open through dagster-duckdb.

    The storage object is the resource itself, not resource config: the PostgreSQL DSN it holds
    never reaches Dagster's run config, metadata or logs."""
    return open_storage(project, duckdb_connect=_duckdb_connection)
