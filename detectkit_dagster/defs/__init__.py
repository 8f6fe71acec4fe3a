"""The Dagster shell: wires the pure core to assets, checks, sensors and jobs."""

from .project import build_definitions

__all__ = ["build_definitions"]
