"""The Dagster shell: wires the pure core to assets, checks, sensors and jobs."""

import warnings

import dagster as dg

# Partitioned checks and single-run backfills are preview/beta in Dagster 1.13; we rely on them.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

from .project import build_definitions  # noqa: E402

__all__ = ["build_definitions"]
