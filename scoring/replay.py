"""Point-in-time features: a person's features as of any past moment, rebuilt from the event store.

``EventReplaySource`` reads each person's stored events in time order and folds them through
``profiles.features`` (``state_apply`` then ``features_compute``), the very code that maintains the
golden record's features on ingest. Features as of a cut-off see only events with a timestamp at
or before it; what happened after is handed out separately (``Snapshot.future``) for labels.

``check_no_leakage`` is the guard every training-set row passes: it raises ``LeakageError`` when a
row's features were computed after its cut-off or reflect any event after it.

The events are read straight from ``events.models.Event`` (values only, per chunk of people,
through the (workspace, profile, timestamp) index); ``events.selectors`` has no bulk history reader
yet (see docs/models.md).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from accounts.models import Workspace
from events.models import Event, EventType
from profiles.features import FeatureConfig, FeatureEvent, feature_config, features_compute, state_apply
from profiles.models import Profile
from scoring.config import order_events
from scoring.feature_spec import PersonFeatures, first_order_at, parse_iso

BEHAVIOURAL = frozenset({EventType.TRACK.value, EventType.PAGE.value, EventType.SCREEN.value})
TOLERANCE_SECONDS = 1e-3  # features store times rounded to the millisecond


class LeakageError(ValueError):
    """A training row used information from after its cut-off."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    cutoff: float  # the moment the row is about (epoch seconds)
    person: PersonFeatures  # features as of the cut-off
    future: Sequence[FeatureEvent]  # events after the cut-off, within the requested horizon (labels only)


class FeatureSource(Protocol):
    def snapshots(
        self,
        *,
        cutoffs: Sequence[float] = (),
        anchors: Mapping[str, Sequence[float]] | None = None,
        horizon_seconds: float = 0.0,
    ) -> Iterator[Snapshot]:
        """Features of every person known at each cut-off (``cutoffs``), or of the given people at
        their own moments (``anchors``: profile id -> epoch seconds)."""
        ...


def epoch(moment: datetime) -> float:
    return moment.timestamp()


def moment(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


def feature_event(*, type: str, name: str, timestamp: datetime, properties: Any) -> FeatureEvent:
    """The feature engine's view of a stored event (as ``events.services.observation_of`` builds it
    on ingest: track events by name, other calls as ``$<type>``)."""
    return FeatureEvent(
        name=name if type == EventType.TRACK else f"${type}",
        at=timestamp.timestamp(),
        properties=properties if isinstance(properties, dict) else {},
        behavioural=type in BEHAVIOURAL,
    )


def check_no_leakage(person: PersonFeatures, cutoff: float) -> None:
    """Raise ``LeakageError`` unless everything in ``person`` was knowable at ``cutoff``."""
    limit = cutoff + TOLERANCE_SECONDS
    if person.as_of > limit:
        raise LeakageError(
            f"features of {person.profile_id} were computed as of {moment(person.as_of):%Y-%m-%d %H:%M:%S}, "
            f"after the cut-off {moment(cutoff):%Y-%m-%d %H:%M:%S}"
        )
    if person.last_event_at is not None and person.last_event_at > limit:
        raise LeakageError(
            f"features of {person.profile_id} include an event at {moment(person.last_event_at):%Y-%m-%d %H:%M:%S}, "
            f"after the cut-off {moment(cutoff):%Y-%m-%d %H:%M:%S}"
        )
    for field in ("as_of", "last_seen_at", "last_order_at"):
        value = parse_iso(person.computed.get(field))
        if value is not None and value > limit:
            raise LeakageError(
                f"feature {field} of {person.profile_id} is {person.computed.get(field)}, "
                f"after the cut-off {moment(cutoff):%Y-%m-%d %H:%M:%S}"
            )


def replay_person(
    profile_id: str,
    history: Sequence[FeatureEvent],
    cutoffs: Iterable[float],
    *,
    config: FeatureConfig,
    order_events: Sequence[str],
    horizon_seconds: float = 0.0,
) -> Iterator[Snapshot]:
    """Fold ``history`` (sorted by time) forward through ``cutoffs``: at each, the features of the
    events up to it. Cut-offs before the person's first event yield nothing."""
    times = [event.at for event in history]
    state: dict[str, Any] | None = None
    used = 0
    for cutoff in sorted(set(cutoffs)):
        upto = bisect.bisect_right(times, cutoff)
        if upto == 0:
            continue
        state = state_apply(state, history[used:upto], now=cutoff, config=config)
        used = upto
        person = PersonFeatures(
            profile_id=profile_id,
            as_of=cutoff,
            computed=features_compute(state, now=cutoff, config=config),
            first_order_at=first_order_at(state, order_events),
            last_event_at=times[upto - 1],
        )
        end = bisect.bisect_right(times, cutoff + horizon_seconds) if horizon_seconds > 0 else upto
        yield Snapshot(cutoff=cutoff, person=person, future=history[upto:end])


class EventReplaySource:
    """Replays the workspace's stored events, people in chunks (bounded memory)."""

    def __init__(self, workspace: Workspace, *, chunk_size: int = 500, config: FeatureConfig | None = None) -> None:
        self.workspace = workspace
        self.chunk_size = chunk_size
        self.config = config or feature_config()
        self.order_events = order_events()
        self.on_progress: Callable[[float], None] | None = None  # share of people replayed, per chunk

    def profile_ids(self) -> list[UUID]:
        return list(
            Profile.objects.filter(workspace=self.workspace, merged_into__isnull=True)
            .order_by("id")
            .values_list("id", flat=True)
        )

    def histories(self, profile_ids: Sequence[UUID], *, until: float) -> dict[str, list[FeatureEvent]]:
        """Each person's events up to ``until``, oldest first."""
        rows = (
            Event.objects.filter(
                workspace=self.workspace, profile_id__in=list(profile_ids), timestamp__lte=moment(until)
            )
            .order_by("profile_id", "timestamp", "id")
            .values_list("profile_id", "type", "name", "timestamp", "properties")
        )
        found: dict[str, list[FeatureEvent]] = {}
        for profile_id, type_, name, timestamp, properties in rows.iterator(chunk_size=5000):
            found.setdefault(str(profile_id), []).append(
                feature_event(type=type_, name=name, timestamp=timestamp, properties=properties)
            )
        return found

    def snapshots(
        self,
        *,
        cutoffs: Sequence[float] = (),
        anchors: Mapping[str, Sequence[float]] | None = None,
        horizon_seconds: float = 0.0,
    ) -> Iterator[Snapshot]:
        if anchors is not None:
            ids = sorted(UUID(str(pid)) for pid in anchors)
            latest = max((max(times) for times in anchors.values() if times), default=0.0)
        else:
            ids = self.profile_ids()
            latest = max(cutoffs, default=0.0)
        until = latest + horizon_seconds
        for start in range(0, len(ids), self.chunk_size):
            chunk = ids[start : start + self.chunk_size]
            for profile_id, history in self.histories(chunk, until=until).items():
                times = anchors.get(profile_id, ()) if anchors is not None else cutoffs
                yield from replay_person(
                    profile_id,
                    history,
                    times,
                    config=self.config,
                    order_events=self.order_events,
                    horizon_seconds=horizon_seconds,
                )
            if self.on_progress is not None:
                self.on_progress(min(1.0, (start + len(chunk)) / len(ids)))


def person_features_now(
    *, profile_id: str, state: Mapping[str, Any] | None, now: float, config: FeatureConfig, order_events: Sequence[str]
) -> PersonFeatures:
    """Serving: a person's features as of ``now`` from their stored feature state."""
    return PersonFeatures(
        profile_id=profile_id,
        as_of=now,
        computed=features_compute(state, now=now, config=config),
        first_order_at=first_order_at(state, order_events),
        last_event_at=(state or {}).get("last"),
    )
