"""What the detections say under one alert rule, for every detection timestamp at once.

Quorum flags, streaks, fraction-window counts and incidents are computed in a few vectorised
passes (linear in the number of rows); the replay loop then only reads them. Everything that
crosses a replay boundary comes in through ReplayState, so a piece sees the same numbers as
one replay over the whole history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectkit_dagster.alerting.quorum import Anomaly, Quorum, quorum, same_side
from detectkit_dagster.alerting.rule import Rule
from detectkit_dagster.alerting.state import FLAG_ANY, FLAG_DOWN, FLAG_UP, ReplayState
from detectkit_dagster.alerting.timeline import Timeline, ms_of

# Quorum classes: a streak or window counts timestamps whose anomalies meet the quorum
# on one side (up/down), regardless of side (any), or on either side (either, `same` unlocked).
_CLASS_FLAGS = {"up": FLAG_UP, "down": FLAG_DOWN, "any": FLAG_ANY, "either": FLAG_UP | FLAG_DOWN}


@dataclass(frozen=True)
class Firing:
    """An anomaly alert is due at a timestamp."""

    side: str            # up / down / any: the class the streak or window was counted in
    length: int          # true streak, or matched window slots when fired by share
    onset_ms: int
    by_share: bool
    matched: int | None  # fraction rule only
    share: float | None


@dataclass(frozen=True)
class Recovery:
    """The metric has recovered at a timestamp; the window figures are for the fraction rule."""

    matched: int | None
    share: float | None


def streak_lengths(flag: np.ndarray, adjacent: np.ndarray, carried: int) -> np.ndarray:
    """Length of the run of flagged timestamps ending at each one. A run breaks at an unflagged
    timestamp or a missing grid slot; `carried` is the run ending right before the first one."""
    index = np.arange(len(flag))
    if not len(flag):
        return index
    before = np.r_[carried > 0, flag[:-1]]
    starts = flag & ~(adjacent & before)
    last_start = np.maximum.accumulate(np.where(starts, index, -1))
    runs = np.where(flag, index - last_start + 1, 0)
    leading = flag & (last_start < 0)  # the run carried in from the previous piece
    runs[leading] = index[leading] + 1 + carried
    return runs


@dataclass(frozen=True)
class Evidence:
    """The rule's reading of every detection timestamp (index g) of one replay piece."""

    rule: Rule
    timeline: Timeline
    state: ReplayState
    flags: np.ndarray                    # FLAG_* bits per timestamp
    quorate: list[bool]                  # quorum with no lock
    streak: dict[str, np.ndarray]        # up / down / any
    newest_quorate: np.ndarray           # newest quorate timestamp at or before each, -1 none
    slots: dict[str, np.ndarray]         # flagged timestamps per class, carried ones included

    @classmethod
    def gather(cls, rule: Rule, timeline: Timeline, state: ReplayState) -> Evidence:
        ts, m = timeline.ts, rule.min_detectors
        flags = (timeline.n_up >= m) * FLAG_UP | (timeline.n_down >= m) * FLAG_DOWN
        flags |= (timeline.n_all >= m) * FLAG_ANY
        tail = state.tail
        joins_tail = tail is not None and len(ts) > 0 and ts[0] - ms_of(tail.timestamp) == rule.step_ms
        adjacent = np.r_[joins_tail, np.diff(ts) == rule.step_ms] if len(ts) else np.zeros(0, bool)
        streak = {
            side: streak_lengths(flags & _CLASS_FLAGS[side] != 0, adjacent, getattr(tail, side, 0))
            for side in ("up", "down", "any")
        }
        quorate = flags & _CLASS_FLAGS[rule.quorum_class] != 0
        index = np.arange(len(ts))
        newest = np.maximum.accumulate(np.where(quorate, index, -1)) if len(ts) else index
        slots = {}
        if rule.window_points:  # carried slots first: a window may reach into the previous piece
            carried_ts = np.array([ms_of(t) for t, _ in state.window], dtype=np.int64)
            carried_flags = np.array([f for _, f in state.window], dtype=np.int64)
            all_ts, all_flags = np.r_[carried_ts, ts], np.r_[carried_flags, flags]
            slots = {side: all_ts[all_flags & bits != 0] for side, bits in _CLASS_FLAGS.items()}
        return cls(rule, timeline, state, flags, quorate.tolist(), streak, newest, slots)

    # -- the anomaly rule ----------------------------------------------------------------------

    def side(self, g: int) -> str:
        """Class the quorum at quorate timestamp g stands for (its lock under `same`)."""
        return self.same_side(g) if self.rule.policy == "same" else self.rule.policy

    def same_side(self, g: int) -> str:
        """`same` side at g, which has a quorum on at least one side."""
        up, down = self.flags[g] & FLAG_UP, self.flags[g] & FLAG_DOWN
        if up and down:  # both sides have a quorum: count, then peak severity decides
            return same_side(self.timeline.anomalies(g), self.rule.min_detectors)
        return "up" if up else "down"

    def firing(self, g: int) -> Firing | None:
        """The consecutive rule, else the fraction rule, at timestamp g (the point being evaluated)."""
        if not self.quorate[g]:
            return None
        rule, t = self.rule, int(self.timeline.ts[g])
        side = self.side(g)
        length = int(self.streak[side][g])
        matched, share = self.window_matched(side, t)
        if length >= rule.consecutive:
            return Firing(side, length, t - rule.step_ms * (length - 1), False, matched, share)
        if share is not None and share >= rule.min_share:
            return Firing(side, matched, self.oldest_slot(side, t), True, matched, share)
        return None

    def window_matched(self, side: str, t: int) -> tuple[int | None, float | None]:
        """Slots in the fraction window ending at t that meet the quorum of `side`, and their share."""
        if not self.rule.window_points:
            return None, None
        slots, lo = self.slots[side], t - self.rule.window_points * self.rule.step_ms
        matched = int(np.searchsorted(slots, t, "right") - np.searchsorted(slots, lo, "right"))
        return matched, matched / self.rule.window_points

    def oldest_slot(self, side: str, t: int) -> int:
        slots = self.slots[side]
        return int(slots[np.searchsorted(slots, t - self.rule.window_points * self.rule.step_ms, "right")])

    # -- recovery --------------------------------------------------------------------------------

    def trigger(self, g: int) -> str | None:
        """Direction an alert at timestamp g stands for (judges its recovery under `same`): the
        `same` side, else the majority side, else unknown. g < 0: the newest one before this piece."""
        if g < 0:
            return self.state.tail.trigger if self.state.tail else None
        if self.flags[g] & (FLAG_UP | FLAG_DOWN):
            return self.same_side(g)
        up, down = self.timeline.n_up[g], self.timeline.n_down[g]
        return "up" if up > down else "down" if down > up else None

    def quorum_of(self, g: int, firing: Firing) -> Quorum:
        """The quorum an alert fired at timestamp g speaks for."""
        lock = firing.side if self.rule.policy == "same" else None
        return quorum(self.timeline.anomalies(g), self.rule.policy, self.rule.min_detectors, lock)

    def _watched(self, alert_direction: str | None) -> str | None:
        """The side whose anomalies keep an alert alive (None: every anomaly)."""
        policy = self.rule.policy
        return policy if policy in ("up", "down") else alert_direction if policy == "same" else None

    def blocking(self, g: int, alert_direction: str | None) -> list[Anomaly]:
        """Anomalies at timestamp g that keep the alert condition alive."""
        watched = self._watched(alert_direction)
        return [a for a in self.timeline.anomalies(g) if watched is None or a.direction == watched]

    def recovered(self, g: int, alert_direction: str | None) -> Recovery | None:
        """Nothing at timestamp g keeps the alert condition alive (direction-aware), and under the
        fraction rule the window share has fallen below half the threshold."""
        policy, tl = self.rule.policy, self.timeline
        watched = self._watched(alert_direction)
        blocking = tl.n_up if watched == "up" else tl.n_down if watched == "down" else tl.n_all
        if blocking[g]:
            return None
        side = watched or ("either" if policy == "same" else "any")
        matched, share = self.window_matched(side, int(tl.ts[g]))
        if share is not None and share >= self.rule.min_share / 2:
            return None
        return Recovery(matched, share)

    def incident(self, g: int) -> tuple[int, int | None]:
        """(length, onset) of the newest run of quorum points at or before timestamp g."""
        r = int(self.newest_quorate[g]) if g >= 0 else -1
        if r < 0:
            carried = self.state.incident
            return (carried.length, ms_of(carried.onset)) if carried else (0, None)
        length = int(self.streak[self.side(r)][r])
        return length, int(self.timeline.ts[r]) - self.rule.step_ms * (length - 1)
