"""One alert block reduced to what the replay needs, and the cooldown rule."""

from __future__ import annotations

from dataclasses import dataclass

from detectkit_dagster.config.alert import AlertConfig


@dataclass(frozen=True)
class Rule:
    """One alert block, reduced to what the replay needs (times in epoch ms)."""

    config_id: str
    text: str
    policy: str
    min_detectors: int
    consecutive: int
    cooldown_ms: int | None
    reset_on_recovery: bool
    notify_on_recovery: bool
    no_data_alert: bool
    window_points: int | None
    min_share: float | None
    step_ms: int
    recovery_points: int = 1  # consecutive calm points that make a recovery

    @classmethod
    def compile(cls, alert: AlertConfig, interval_seconds: int) -> Rule:
        alert.validate_against_interval(interval_seconds)
        cooldown = alert.cooldown_seconds
        return cls(
            config_id=alert.config_id,
            text=alert.rule_text(),
            policy=alert.direction,
            min_detectors=alert.min_detectors,
            consecutive=alert.consecutive_anomalies,
            cooldown_ms=None if cooldown is None else cooldown * 1000,
            reset_on_recovery=alert.cooldown_reset_on_recovery,
            notify_on_recovery=alert.notify_on_recovery,
            no_data_alert=alert.no_data_alert,
            window_points=alert.window_points(interval_seconds),
            min_share=alert.min_anomaly_share,
            step_ms=interval_seconds * 1000,
            recovery_points=alert.recovery_consecutive,
        )

    @property
    def quorum_class(self) -> str:
        """Quorum class (see evidence) a timestamp must be in to have a quorum with no lock."""
        return "either" if self.policy == "same" else self.policy

    def in_cooldown(self, t: int, last_alert: int | None, last_recovery: int | None) -> bool:
        """Cooldown after an alert; strict `<`, lifted by a recovery when reset is on."""
        if self.cooldown_ms is None or last_alert is None:
            return False
        if self.reset_on_recovery and last_recovery is not None and last_recovery > last_alert:
            return False
        return t - last_alert < self.cooldown_ms
