"""Materialization metadata: per partition in range runs, with Dagster's standard keys."""

from __future__ import annotations

import base64
import configparser
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

import dagster as dg
import polars as pl

from ..reporting.chart_png import chart_png
from ..schemas import TABLE_SCHEMAS


def add_partition_metadata(context: dg.AssetExecutionContext, metadata: Mapping[str, Mapping]) -> None:
    """Each partition of the run gets its own numbers (an Output's metadata would be copied to all)."""
    for key, values in metadata.items():
        context.add_asset_metadata(dict(values), partition_key=key)


def table_metadata(storage, key: str, table: str) -> dict:
    """Definition metadata of a stored table: its columns and where it lives."""
    schema = dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype in TABLE_SCHEMAS[table].items()])
    return {"dagster/column_schema": schema, "dagster/table_name": storage.table_name(key, table)}


def code_reference(metric_path: Path | None) -> dict:
    """A link from the asset to its metric YAML."""
    if metric_path is None:
        return {}
    reference = dg.LocalFileCodeReference(file_path=str(metric_path), line_number=1, label="metric YAML")
    return {"dagster/code_references": dg.CodeReferencesMetadataValue(code_references=[reference])}


def git_links(assets: list, root: Path) -> list:
    """Code references as links to the repository's web view, when the project is a git
    checkout with an http(s)-reachable remote (GitHub or GitLab style)."""
    repo = next((p for p in [root, *root.parents] if (p / ".git").is_dir()), None)
    if repo is None:
        return assets
    remote, branch = _remote_and_branch(repo / ".git")
    if not remote or not branch:
        return assets
    return list(dg.link_code_references_to_git(
        assets, git_url=remote, git_branch=branch,
        file_path_mapping=dg.AnchorBasedFilePathMapping(local_file_anchor=repo, file_anchor_path_in_repository="")))


def _remote_and_branch(git_dir: Path) -> tuple[str | None, str | None]:
    try:
        head = (git_dir / "HEAD").read_text().strip()
        config = configparser.ConfigParser()
        config.read(git_dir / "config")
        url = config.get('remote "origin"', "url", fallback="")
    except (OSError, configparser.Error):
        return None, None
    branch = head.removeprefix("ref: refs/heads/") if head.startswith("ref: refs/heads/") else None
    if url.startswith("git@") and ":" in url:
        host, path = url[4:].split(":", 1)
        url = f"https://{host}/{path}"
    parts = urlsplit(url.removesuffix(".git"))
    if parts.scheme != "https" or not parts.hostname or not any(h in parts.hostname for h in ("github", "gitlab")):
        return None, branch
    return f"https://{parts.hostname}{parts.path}", branch  # never the credentials of the URL


# What the chart reads of a detection.
CHART_COLUMNS = ("timestamp", "detector_id", "value", "processed_value", "confidence_lower", "confidence_upper",
                 "is_anomaly")


def partition_chart(datapoints: pl.DataFrame, detections: pl.DataFrame, events: pl.DataFrame) -> dg.MetadataValue:
    """The partition at a glance, as markdown with an embedded PNG (rendered by the Dagster UI)."""
    png = base64.b64encode(chart_png(datapoints, detections, events)).decode("ascii")
    legend = "value (blue), band (light blue), anomalies (red), alerts (orange), recoveries (green)"
    return dg.MetadataValue.md(f"![{legend}](data:image/png;base64,{png})\n\n{legend}")
