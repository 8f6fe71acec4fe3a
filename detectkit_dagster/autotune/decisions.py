"""The decision log: one entry per choice the search made, in the order it made them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

STAGES = ("labels", "seasonality", "detector_select", "regime", "grid_search", "window")
# How each stage is labelled in the tuned file's header and the command's output.
HEADINGS = {"seasonality": "SEASONALITY", "detector_select": "DETECTOR", "regime": "REGIME",
            "grid_search": "GRID SEARCH", "window": "WINDOW", "labels": "LABELS"}


@dataclass(frozen=True)
class Decision:
    stage: str
    message: str
    fields: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)
