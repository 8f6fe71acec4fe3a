"""Loading and validating a project's config files (pure: no dagster)."""

from .alert import AlertConfig
from ..errors import ConfigError
from .metric import BUILTIN_SEASONALITY, DetectorConfig, MetricConfig
from .profiles import ChannelConfig, DuckDBProfile, PostgresProfile, ProfilesConfig
from .project import Project, ProjectConfig, load_metric, load_project

__all__ = [
    "AlertConfig", "BUILTIN_SEASONALITY", "ChannelConfig", "ConfigError", "DetectorConfig",
    "DuckDBProfile", "MetricConfig", "PostgresProfile", "Project", "ProfilesConfig",
    "ProjectConfig", "load_metric", "load_project",
]
