"""Reading and validating a project's config files, each on its own terms (pure: no dagster).

This is the bottom layer: it imports only `timegrid` and `errors`. Loading a whole project,
with the checks that need detectors, channels or query templates, is
`detectkit_dagster.project.load_project`.
"""

from ..errors import ConfigError
from .alert import AlertConfig
from .metric import BUILTIN_SEASONALITY, DetectorConfig, MetricConfig
from .profiles import ChannelConfig, DuckDBProfile, PostgresProfile, ProfilesConfig
from .project import Project, ProjectConfig, load_metric

__all__ = [
    "AlertConfig", "BUILTIN_SEASONALITY", "ChannelConfig", "ConfigError", "DetectorConfig",
    "DuckDBProfile", "MetricConfig", "PostgresProfile", "Project", "ProfilesConfig",
    "ProjectConfig", "load_metric",
]
