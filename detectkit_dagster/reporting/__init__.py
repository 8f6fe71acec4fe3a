"""The metric report: one offline HTML page (plotly) per metric and partition.

Pure apart from ``write_report``; no dagster import (the asset in ``defs/`` wires it).
"""

from .files import write_report
from .model import ReportFile, ReportInput
from .page import render_report

__all__ = ["ReportFile", "ReportInput", "render_report", "write_report"]
