"""Tuning settings: the metric's `autotune:` block, validated, plus the search constants."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from ..config.errors import describe_validation_error
from ..config.metric import AutotuneConfig
from ..detection import create_detector
from ..detection.params import AUTOREG_DEFAULTS, windowed_defaults, WINDOWED_KINDS
from ..errors import AutotuneError
from .labels import parse_labels

TYPES = ("iqr", "mad", "zscore")
SIGMA_THRESHOLDS = (2.5, 3.0, 3.5, 4.0, 5.0, 6.0)
IQR_THRESHOLDS = (1.5, 2.0, 3.0, 4.0, 6.0)
MAX_CANDIDATE_TYPES = 4
MIN_IMPROVEMENT = 1e-3      # an optional axis (weights, half-life, detrend) must gain this much
MAX_CANDIDATES = 200        # distinct configs evaluated before the search stops (checked between types)
WINDOW_TIE_MARGIN = 0.01    # windows this close to the best score count as tied
FPR_TARGET = 0.01           # flag budget of the unsupervised objective
DEFAULT_HISTORY = 50_000    # points read for tuning when max_history is unset


@dataclass(frozen=True)
class TuneSettings:
    metric: str = "mcc"
    beta: float = 1.0
    folds: int = 5
    stability_lambda: float = 0.5
    detector_types: tuple[str, ...] = TYPES
    seasonality_candidates: tuple[str, ...] | None = None
    force_seasonality: tuple | None = None
    fixed_params: dict = field(default_factory=dict)
    max_history: int | None = None
    options: frozenset[str] = frozenset()  # search_options: what the search adds beyond the reference

    @classmethod
    def from_block(cls, block: dict | AutotuneConfig | None, scoring: str | None = None) -> "TuneSettings":
        """Settings from a metric's `autotune:` block (a mapping or the loaded model); ``scoring``
        overrides its scoring_metric. Raises AutotuneError naming the field."""
        config = block if isinstance(block, AutotuneConfig) else _validated(block or {})
        if scoring is not None:
            config = _validated({**config.model_dump(exclude_unset=True), "scoring_metric": scoring})
        return cls(
            metric=config.scoring_metric,
            beta=config.beta,
            folds=config.folds,
            stability_lambda=config.stability_lambda,
            detector_types=tuple(sorted(set(config.detector_types or TYPES))),
            seasonality_candidates=tuple(config.seasonality_candidates) if config.seasonality_candidates else None,
            force_seasonality=tuple(config.force_seasonality) if config.force_seasonality else None,
            fixed_params=dict(config.fixed_params or {}),
            max_history=config.max_history,
            options=frozenset(config.search_options),
        )

    def thresholds(self, detector_type: str) -> tuple[float, ...]:
        return IQR_THRESHOLDS if detector_type == "iqr" else SIGMA_THRESHOLDS

    @property
    def searched_types(self) -> tuple[str, ...]:
        """The detector types searched: the allowed ones, then autoreg when it is opted into."""
        return self.detector_types + (("autoreg",) if "autoreg" in self.options else ())

    def pinned(self, detector_type: str) -> dict:
        """The pinned params that apply to a type (autoreg has no weights, detrend or groups)."""
        return _applying(self.fixed_params, detector_type)

    @property
    def fixed_window(self) -> int | None:
        window = self.fixed_params.get("window_size")
        return window if isinstance(window, int) and not isinstance(window, bool) else None


def _validated(block: dict) -> AutotuneConfig:
    if not isinstance(block, dict):
        raise AutotuneError(f"autotune: expected a mapping of settings, got {block!r}")
    try:
        config = AutotuneConfig.model_validate(block)
    except ValidationError as exc:
        lines = describe_validation_error(exc, AutotuneConfig, ("autotune",)).splitlines()
        raise AutotuneError("; ".join(lines)) from None
    try:
        return check_block(config)
    except ValueError as exc:
        raise AutotuneError(f"autotune.{exc}") from None


def check_block(config: AutotuneConfig) -> AutotuneConfig:
    """What the block's model cannot check alone: inline labels and pinned params; a
    ValueError names the field."""
    if config.incidents is not None:
        try:
            parse_labels(config.incidents, timezone=config.incidents_timezone)
        except ValueError as exc:
            raise ValueError(f"incidents: {exc}") from None
    if config.fixed_params:
        types = tuple(config.detector_types or TYPES) + (("autoreg",) if "autoreg" in config.search_options else ())
        try:
            check_fixed_params(config.fixed_params, types)
        except ValueError as exc:
            raise ValueError(f"fixed_params: {exc}") from None
    return config


def check_fixed_params(fixed: dict, detector_types=None) -> dict:
    """Pinned detector params must be valid for every type the search may use (a param only
    autoreg has, or only the windowed types have, is pinned for those)."""
    types = detector_types or TYPES
    known = set().union(*(_params_of(t) for t in types))
    for name in fixed:
        if name not in known:
            raise ValueError(f"unknown detector param {name!r}; allowed: {', '.join(sorted(known))}")
    probe = dict(fixed)
    samples = probe.get("min_samples")
    if "window_size" not in probe:  # the search picks the window: any that fits is fine
        probe["window_size"] = max(100, samples) if isinstance(samples, int) else 100
    window = probe["window_size"]
    if isinstance(window, int) and not isinstance(window, bool):
        probe.setdefault("min_samples", min(30, max(window, 1)))
    for detector_type in types:
        try:
            create_detector(detector_type, _applying(probe, detector_type))
        except ValueError as exc:
            raise ValueError(str(exc)) from None
    return fixed


def _params_of(detector_type: str) -> set[str]:
    if detector_type == "autoreg":  # seasonality is left to the windowed types
        return set(AUTOREG_DEFAULTS) - {"seasonality_components"}
    return set(windowed_defaults(WINDOWED_KINDS[detector_type]))


def _applying(params: dict, detector_type: str) -> dict:
    names = _params_of(detector_type)
    return {k: v for k, v in params.items() if k in names}
