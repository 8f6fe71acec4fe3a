"""The project's storage as a Dagster resource: assets, the I/O manager, sensors and jobs get it
injected, so a deployment picks where tables live by configuration, never inside an asset."""

from __future__ import annotations

from ..config import Project
from ..storage import Storage, open_storage

STORAGE = "detectkit_storage"


def project_storage(project: Project) -> Storage:
    """The storage `detectkit_project.yml` selects.

    The storage object is the resource itself, not resource config: the PostgreSQL DSN it holds
    never reaches Dagster's run config, metadata or logs."""
    return open_storage(project)
