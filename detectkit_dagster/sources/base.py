"""What every source backend provides, and the registry that picks one per profile type."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

import polars as pl

from ..errors import SourceError


class Source(Protocol):
    """Runs one rendered query and returns its result; every failure is a `SourceError`
    whose text is safe to show (no password, no secret URL part)."""

    @property
    def label(self) -> str:
        """Where the query runs, for messages (never a secret)."""

    def fetch(self, sql: str) -> pl.DataFrame:
        """The result set of `sql` as a polars frame."""


# profile type -> constructor(profile, project root)
REGISTRY: dict[str, Callable[[object, Path], Source]] = {}


def register(*types: str):
    def add(factory):
        for kind in types:
            REGISTRY[kind] = factory
        return factory
    return add


def make_source(profile, root: Path) -> Source:
    """The source a `profiles.yml` profile describes (paths relative to the project root)."""
    factory = REGISTRY.get(getattr(profile, "type", None))
    if factory is None:
        raise SourceError(f"unsupported profile type: {getattr(profile, 'type', profile)!r}")
    return factory(profile, root)


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
