"""Training sets built point in time: features as of a cut-off, labels from the window after it.

A row is (person, cut-off): the person's features computed from the events up to the cut-off
(``replay.EventReplaySource``), and a label read only from the events in (cut-off, cut-off + N
days]. Every row passes ``replay.check_no_leakage`` before it is kept, so a feature computed after
its cut-off, or reflecting a later event, fails the build with ``LeakageError``.

Labels:

- conversion: at least one order event (``PROFILE_ORDER_EVENTS``) in the window;
- churn: no activity (track, page or screen) in the window, or a cancellation event
  (``SCORING_CANCEL_EVENTS``) in it; people who already cancelled are not in the population;
- response: given per row by a labelled table (``labels.LabelledOutcome``), features as of the
  decision's own time.

Rows are ordered by (cut-off, profile id), and when there are more than ``max_rows`` a sample is
drawn with ``numpy.random.default_rng(seed)``: the same data and seed give the same set, which
``fingerprint`` proves (a SHA-256 over every row's id, cut-off, label and features).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from profiles.features import FeatureEvent
from scoring.config import LabelWindow
from scoring.feature_spec import DAY, PersonFeatures
from scoring.models import ModelKind
from scoring.replay import FeatureSource, LeakageError, Snapshot, check_no_leakage


@dataclass(frozen=True)
class LabelRule:
    kind: str
    window: LabelWindow
    order_events: frozenset[str]
    cancel_events: frozenset[str]

    @property
    def horizon_seconds(self) -> float:
        return self.window.horizon_days * DAY

    def eligible(self, person: PersonFeatures) -> bool:
        """Active within the population window; for churn also not cancelled already (they have left)."""
        recency = person.computed.get("days_since_last_seen")
        if recency is None or recency > self.window.population_days:
            return False
        if self.kind == ModelKind.CHURN:
            counts = person.computed.get("event_counts") or {}
            return not any((counts.get(name) or {}).get("total", 0) for name in self.cancel_events)
        return True

    def label(self, future: Sequence[FeatureEvent], cutoff: float) -> int:
        end = cutoff + self.horizon_seconds
        window = [e for e in future if cutoff < e.at <= end]
        if len(window) != len(future):
            raise LeakageError("label window events must all fall in (cut-off, cut-off + horizon]")
        if self.kind == ModelKind.CONVERSION:
            return int(any(e.name in self.order_events for e in window))
        if self.kind == ModelKind.CHURN:
            cancelled = any(e.name in self.cancel_events for e in window)
            active = any(e.behavioural and e.name not in self.cancel_events for e in window)
            return int(cancelled or not active)
        raise ValueError(f"no label rule for {self.kind!r}")


@dataclass
class TrainingSet:
    kind: str
    cutoffs: list[float]
    seed: int
    people: list[PersonFeatures] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    futures: list[Sequence[FeatureEvent]] = field(default_factory=list)
    dropped: int = 0  # rows left out by the max_rows sample

    @property
    def rows(self) -> int:
        return len(self.labels)

    @property
    def positives(self) -> int:
        return int(sum(self.labels))

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for person, label in zip(self.people, self.labels, strict=True):
            digest.update(
                json.dumps(
                    [person.profile_id, round(person.as_of, 3), label, person.first_order_at, person.computed],
                    sort_keys=True,
                    separators=(",", ":"),
                    default=str,
                ).encode()
            )
        return digest.hexdigest()

    def summary(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "positives": self.positives,
            "people": len({p.profile_id for p in self.people}),
            "seed": self.seed,
            "dropped_by_sample": self.dropped,
            "fingerprint": self.fingerprint(),
        }


def training_cutoffs(*, end: float, horizon_days: float, count: int, step_days: float) -> tuple[list[float], float]:
    """Training cut-offs and the held-out cut-off, so no training label window reaches past the
    held-out cut-off: held-out = end - horizon; training = held-out - horizon - k · step."""
    holdout = end - horizon_days * DAY
    first = holdout - horizon_days * DAY
    return [first - k * step_days * DAY for k in range(count)][::-1], holdout


def _sample(rows: list[tuple[Snapshot, int]], *, max_rows: int, seed: int) -> tuple[list[tuple[Snapshot, int]], int]:
    if len(rows) <= max_rows:
        return rows, 0
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), size=max_rows, replace=False))
    return [rows[i] for i in keep], len(rows) - max_rows


def training_set_build(
    *,
    source: FeatureSource,
    rule: LabelRule,
    cutoffs: Sequence[float],
    seed: int,
    max_rows: int = 50_000,
) -> TrainingSet:
    """Rows for every eligible person at every cut-off. Raises ``LeakageError`` if the source
    hands back features that know anything after their cut-off."""
    wanted = set(cutoffs)
    rows: list[tuple[Snapshot, int]] = []
    for snapshot in source.snapshots(cutoffs=list(cutoffs), horizon_seconds=rule.horizon_seconds):
        if snapshot.cutoff not in wanted:
            raise LeakageError(f"the source answered for a cut-off that was not asked for ({snapshot.cutoff})")
        check_no_leakage(snapshot.person, snapshot.cutoff)
        if not rule.eligible(snapshot.person):
            continue
        rows.append((snapshot, rule.label(snapshot.future, snapshot.cutoff)))
    rows.sort(key=lambda row: (row[0].cutoff, row[0].person.profile_id))
    kept, dropped = _sample(rows, max_rows=max_rows, seed=seed)
    return TrainingSet(
        kind=rule.kind,
        cutoffs=sorted(wanted),
        seed=seed,
        people=[snapshot.person for snapshot, _ in kept],
        labels=[label for _, label in kept],
        futures=[snapshot.future for snapshot, _ in kept],
        dropped=dropped,
    )


def labelled_set_build(
    *,
    source: FeatureSource,
    kind: str,
    outcomes: Mapping[tuple[str, float], int],
    seed: int,
    max_rows: int = 50_000,
) -> TrainingSet:
    """Rows from a labelled table: ``{(profile id, moment): label}``, each row's features as of
    its own moment (leakage-checked like any other row)."""
    anchors: dict[str, list[float]] = {}
    for profile_id, at in outcomes:
        anchors.setdefault(profile_id, []).append(at)
    rows: list[tuple[Snapshot, int]] = []
    for snapshot in source.snapshots(anchors=anchors):
        key = (snapshot.person.profile_id, snapshot.cutoff)
        if key not in outcomes:
            raise LeakageError(f"the source answered for a moment that was not asked for ({key})")
        check_no_leakage(snapshot.person, snapshot.cutoff)
        rows.append((snapshot, int(outcomes[key])))
    rows.sort(key=lambda row: (row[0].cutoff, row[0].person.profile_id))
    kept, dropped = _sample(rows, max_rows=max_rows, seed=seed)
    return TrainingSet(
        kind=kind,
        cutoffs=sorted({snapshot.cutoff for snapshot, _ in kept}),
        seed=seed,
        people=[snapshot.person for snapshot, _ in kept],
        labels=[label for _, label in kept],
        futures=[() for _ in kept],
        dropped=dropped,
    )
