"""An embedded DuckDB file as a metric source (read-only connections)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from ..errors import SourceError
from .base import first_line, register


@dataclass(frozen=True)
class DuckDBSource:
    path: Path

    @property
    def label(self) -> str:
        return f"duckdb file {self.path}"

    def fetch(self, sql: str) -> pl.DataFrame:
        if not self.path.exists():
            raise SourceError(f"source database not found: {self.path}")
        try:
            with duckdb.connect(str(self.path), read_only=True) as con:
                relation = con.sql(sql)
                if relation is None:
                    raise SourceError(f"query on {self.label} returned no result set")
                return pl.DataFrame(relation)
        except duckdb.Error as exc:
            raise SourceError(f"query failed on {self.label}: {first_line(exc)}") from None


@register("duckdb")
def _from_profile(profile, root: Path) -> DuckDBSource:
    path = Path(profile.path)
    return DuckDBSource(path if path.is_absolute() else root / path)
