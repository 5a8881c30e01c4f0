"""Writes of the identity graph and golden record.

``profiles_observe`` is the ingest entry point: the events app calls it inside its
transaction with every new event of a request, and gets back the profile of each. It is
set-based: a batch of N events costs a fixed handful of queries, whatever N.

Locking (why nothing is lost or duplicated under concurrent writers):

1. ``pg_advisory_xact_lock`` on every identifier of the batch, taken in one statement in
   sorted order. Two writers that see the same new identifier are serialised, so it creates
   one profile, not two; the second sees the first's identifier rows once it gets the lock.
2. ``SELECT ... FOR UPDATE`` on every profile the identifiers point at, in id order. Every
   writer that adds events to, or merges, a profile holds its row lock, so a merge can never
   miss events written concurrently for the merged-away profile. A profile found merged
   after the lock was granted is followed to its survivor, which is locked too.
3. Audit entries (which take the workspace's audit-chain lock) are written last, once every
   other lock is held, so that lock never sits in a cycle.

Steps 1 and 2, and reading the locked profiles' features, are one round trip: the database
function ``profiles_identify_locked`` (migrations 0007, 0009) runs them in order, each with a
snapshot taken after the previous step's locks were granted.

Big batches shorten the time they hold those locks (``profiles_prepare``): the same read without
locks (``profiles_identify_peek``) groups the batch into people and computes every person's
features update ahead. The locked read then returns each profile's features version (``xmin``)
and the state only where it changed. A prepared update is used only for the same profile, the
same events and the same version; the grouping is reused only when the locked read found exactly
the same identifiers, profiles and merges. Anything else is redone under the locks.

Lock order can still cross when two merges meet (rare); PostgreSQL then aborts one writer
with a deadlock error and ``events.services`` retries its whole transaction.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Workspace
from accounts.principals import Actor
from audit.services import audit_record
from core import domain_events, fastjson
from profiles.features import FeatureConfig, feature_config, features_compute, state_apply, state_merge
from profiles.identity import (
    MAX_MERGE_CHAIN,
    SOURCE_API,
    Key,
    Observation,
    at_str,
    consent_apply,
    consent_combine,
    consent_from_traits,
    groups_apply,
    groups_combine,
    keys_describe,
    observation_keys,
    trait_precedence,
    traits_apply,
    traits_combine,
)
from profiles.models import Identifier, Profile, ProfileFeatures
from profiles.references import profile_references
from profiles.sql import WriteBatch, bulk_execute, bulk_fetchall

PROFILE_TABLE = Profile._meta.db_table
IDENTIFIER_TABLE = Identifier._meta.db_table
FEATURES_TABLE = ProfileFeatures._meta.db_table


def _dumps(value: Any) -> str:
    return fastjson.dumps(value) if value else "{}"


def _loads(value: Any) -> Any:
    if value is None:
        return {}
    return fastjson.loads(value) if isinstance(value, str | bytes) else value


@dataclass
class _ProfileRow:
    id: UUID
    created_at: datetime
    traits: dict[str, Any] = field(default_factory=dict)
    trait_meta: dict[str, Any] = field(default_factory=dict)
    consent: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, Any] = field(default_factory=dict)
    loaded: bool = False
    is_new: bool = False
    dirty: bool = False


@dataclass
class _Merge:
    survivor: UUID
    losers: list[UUID]
    keys: list[Key]


@dataclass
class _UnionFind:
    parent: dict[Any, Any] = field(default_factory=dict)

    def find(self, node: Any) -> Any:
        parent = self.parent.setdefault(node, node)
        if parent == node:
            return node
        root = self.find(parent)
        self.parent[node] = root
        return root

    def union(self, a: Any, b: Any) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[root_b] = root_a


def _lock_key(workspace_id: UUID, key: Key) -> int:
    digest = hashlib.blake2b(f"identity|{workspace_id}|{key[0]}|{key[1]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class _Read:
    """Identifiers, profiles and features as one read found them (locked, or peeked at)."""

    found: dict[Key, UUID] = field(default_factory=dict)  # identifier -> profile, as stored
    rows: dict[UUID, _ProfileRow] = field(default_factory=dict)  # live profiles
    redirects: dict[UUID, UUID] = field(default_factory=dict)  # tombstone -> the profile it was merged into
    # each live profile's stored features state (None: no features row), and the row's version
    # (its xmin, None: no row); a profile reached through a merge chain has no version
    features: dict[UUID, Any] = field(default_factory=dict)
    versions: dict[UUID, str | None] = field(default_factory=dict)

    def same_people(self, other: _Read) -> bool:
        """Would both reads group the batch's identifiers into the same people?"""
        return self.found == other.found and self.redirects == other.redirects and self.rows.keys() == other.rows.keys()


def _read_rows(read: _Read, fetched: Iterable[Sequence[Any]], peek: _Read | None) -> set[UUID]:
    """Fill ``read`` from rows of ``profiles_identify_locked`` or ``_peek``. A state left out by
    the locked read is unchanged since ``peek``: it is taken from there. Returns the survivors of
    merges whose profile the read did not include."""
    pending: set[UUID] = set()
    for kind, value, pid, merged_into, created_at, version, state in fetched:
        read.found[(kind, value)] = pid
        if merged_into is not None:
            read.redirects[pid] = merged_into
            pending.add(merged_into)
        else:
            read.rows[pid] = _ProfileRow(id=pid, created_at=created_at)
            read.versions[pid] = version
            unchanged = peek is not None and state is None and version is not None
            read.features[pid] = peek.features[pid] if peek is not None and unchanged else state
    return pending


def _identifiers_peek(workspace_id: UUID, keys: Sequence[Key]) -> _Read:
    """What ``_identifiers_lock_profiles`` will find, read without any lock (migration 0009):
    work prepared from it is checked against the locked read before it is used."""
    read = _Read()
    if keys:
        fetched = bulk_fetchall(
            "SELECT * FROM profiles_identify_peek(%s, %b, %b)",
            [workspace_id, [k for k, _ in keys], [v for _, v in keys]],
        )
        _read_rows(read, fetched, None)
    return read


def _identifiers_lock_profiles(workspace_id: UUID, keys: Sequence[Key], peek: _Read | None) -> _Read:
    """Lock the identifiers (advisory locks, sorted), find them and lock their profiles (in
    profile id order), and read those profiles' features: one round trip, each step seeing what
    was committed before its locks were granted (``profiles_identify_locked``, migrations 0007
    and 0009). Features whose version is the one ``peek`` saw are not sent again.
    Then lock, transitively, the survivors of any profile found merged meanwhile.
    The rows' golden-record data is not loaded."""
    locked = _Read()
    if not keys:
        return locked
    known = [pid for pid, version in peek.versions.items() if version is not None] if peek else []
    fetched = bulk_fetchall(
        "SELECT * FROM profiles_identify_locked(%s, %b, %b, %b, %b, %b)",
        [
            workspace_id,
            sorted({_lock_key(workspace_id, key) for key in keys}),
            [k for k, _ in keys],
            [v for _, v in keys],
            known,
            [peek.versions[pid] for pid in known] if peek else [],
        ],
    )
    rows, redirects = locked.rows, locked.redirects
    pending = _read_rows(locked, fetched, peek)
    for _ in range(MAX_MERGE_CHAIN):  # rare: a merge committed between our read and our lock
        pending -= set(rows) | set(redirects)
        if not pending:
            break
        chained = bulk_fetchall(
            f"SELECT id, merged_into_id, created_at FROM {PROFILE_TABLE} "  # noqa: S608
            "WHERE workspace_id = %s AND id = ANY(%b::uuid[]) ORDER BY id FOR UPDATE",
            [workspace_id, sorted(pending)],
        )
        pending = set()
        for pid, merged_into, created_at in chained:
            if merged_into is not None:
                redirects[pid] = merged_into
                pending.add(merged_into)
            else:
                rows[pid] = _ProfileRow(id=pid, created_at=created_at)
    return locked


def _profiles_load(rows: Iterable[_ProfileRow]) -> None:
    """Load the golden-record columns of locked rows that will be changed (most track events
    change none, and skip this)."""
    wanted = {row.id: row for row in rows if not row.loaded}
    if not wanted:
        return
    fetched = bulk_fetchall(
        f"SELECT id, traits, trait_meta, consent, groups FROM {PROFILE_TABLE} WHERE id = ANY(%b::uuid[])",  # noqa: S608
        [list(wanted)],
    )
    for pid, traits, meta, consent, groups in fetched:
        row = wanted[pid]
        row.traits, row.trait_meta, row.consent, row.groups = (
            _loads(traits),
            _loads(meta),
            _loads(consent),
            _loads(groups),
        )
        row.loaded = True


def _live(profile_id: UUID, redirects: Mapping[UUID, UUID]) -> UUID:
    for _ in range(MAX_MERGE_CHAIN):
        if profile_id not in redirects:
            break
        profile_id = redirects[profile_id]
    return profile_id


def _execute(sql: str, params: Sequence[Any]) -> None:
    bulk_execute(sql, params)


def _profiles_insert(workspace_id: UUID, rows: Sequence[_ProfileRow], now: datetime) -> None:
    if not rows:
        return
    _execute(
        f"INSERT INTO {PROFILE_TABLE} (id, workspace_id, created_at, updated_at, traits, trait_meta, consent, groups) "  # noqa: S608
        "SELECT u.id, %s, %s, %s, u.t::jsonb, u.m::jsonb, u.c::jsonb, u.g::jsonb "
        "FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[]) AS u(id, t, m, c, g)",
        [
            workspace_id,
            now,
            now,
            [r.id for r in rows],
            [_dumps(r.traits) for r in rows],
            [_dumps(r.trait_meta) for r in rows],
            [_dumps(r.consent) for r in rows],
            [_dumps(r.groups) for r in rows],
        ],
    )


def _profiles_update(rows: Sequence[_ProfileRow], now: datetime) -> None:
    if not rows:
        return
    if any(not row.loaded for row in rows):  # would overwrite the golden record with blanks
        raise RuntimeError("profile changed without its golden record loaded")
    _execute(
        f"UPDATE {PROFILE_TABLE} AS p SET traits = u.t::jsonb, trait_meta = u.m::jsonb, "  # noqa: S608
        "consent = u.c::jsonb, groups = u.g::jsonb, updated_at = %s "
        "FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[]) AS u(id, t, m, c, g) "
        "WHERE p.id = u.id",
        [
            now,
            [r.id for r in rows],
            [_dumps(r.traits) for r in rows],
            [_dumps(r.trait_meta) for r in rows],
            [_dumps(r.consent) for r in rows],
            [_dumps(r.groups) for r in rows],
        ],
    )


def _identifiers_insert(workspace_id: UUID, assignments: Sequence[tuple[Key, UUID]], now: datetime) -> None:
    if not assignments:
        return
    _execute(
        f"INSERT INTO {IDENTIFIER_TABLE} (id, workspace_id, created_at, updated_at, kind, value, profile_id) "  # noqa: S608
        "SELECT u.id, %s, %s, %s, u.kind, u.value, u.profile_id "
        "FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::uuid[]) AS u(id, kind, value, profile_id)",
        [
            workspace_id,
            now,
            now,
            [uuid4() for _ in assignments],
            [key[0] for key, _ in assignments],
            [key[1] for key, _ in assignments],
            [profile_id for _, profile_id in assignments],
        ],
    )


def _merges_write(workspace_id: UUID, merges: Sequence[_Merge], now: datetime) -> None:
    pairs = [(loser, merge.survivor) for merge in merges for loser in merge.losers]
    if not pairs:
        return
    losers, survivors = [p[0] for p in pairs], [p[1] for p in pairs]
    _execute(
        f"UPDATE {PROFILE_TABLE} AS p SET merged_into_id = u.s, merged_at = %s, updated_at = %s "  # noqa: S608
        "FROM unnest(%b::uuid[], %b::uuid[]) AS u(l, s) WHERE p.id = u.l",
        [now, now, losers, survivors],
    )
    _execute(
        f"UPDATE {IDENTIFIER_TABLE} AS i SET profile_id = u.s, updated_at = %s "  # noqa: S608
        "FROM unnest(%b::uuid[], %b::uuid[]) AS u(l, s) WHERE i.profile_id = u.l",
        [now, losers, survivors],
    )
    for reference in profile_references():
        table = reference.model._meta.db_table
        column = connection.ops.quote_name(reference.column)
        _execute(
            f"UPDATE {table} AS r SET {column} = u.s FROM unnest(%b::uuid[], %b::uuid[]) AS u(l, s) "  # noqa: S608
            f"WHERE r.workspace_id = %s AND r.{column} = u.l",
            [losers, survivors, workspace_id],
        )


def _features_load(resolution: _Resolution, profile_ids: Iterable[UUID]) -> dict[UUID, dict[str, Any]]:
    """The stored features of these profiles: read with their locks, or before them when the
    locked read found them unchanged (``resolution.features``); none for new profiles; and from
    the table for any other (survivors of a merge committed while we waited for a lock)."""
    loaded: dict[UUID, dict[str, Any]] = {}
    missing: list[UUID] = []
    for pid in profile_ids:
        if pid in resolution.features:
            if resolution.features[pid] is not None:
                loaded[pid] = _loads(resolution.features[pid])
        elif not resolution.rows[pid].is_new:
            missing.append(pid)
    if missing:
        found = bulk_fetchall(
            f"SELECT profile_id, state FROM {FEATURES_TABLE} WHERE profile_id = ANY(%b::uuid[])",  # noqa: S608
            [missing],
        )
        loaded.update((pid, _loads(state)) for pid, state in found)
    return loaded


def _features_write(
    workspace_id: UUID, written: Mapping[UUID, tuple[str, str]], now: datetime, writes: WriteBatch | None
) -> None:
    """Upsert features rows: ``written`` maps each profile to its state and computed features, as JSON."""
    if not written:
        return
    ids = list(written)
    (writes.add if writes is not None else _execute)(
        f"INSERT INTO {FEATURES_TABLE} (profile_id, workspace_id, state, computed, updated_at) "  # noqa: S608
        "SELECT u.id, %s, u.s::json, u.c::json, %s FROM unnest(%b::uuid[], %b::text[], %b::text[]) AS u(id, s, c) "
        "ON CONFLICT (profile_id) DO UPDATE SET state = EXCLUDED.state, computed = EXCLUDED.computed, "
        "updated_at = EXCLUDED.updated_at",
        [workspace_id, now, ids, [written[i][0] for i in ids], [written[i][1] for i in ids]],
    )


def _features_delete(profile_ids: Sequence[UUID]) -> None:
    if profile_ids:
        _execute(f"DELETE FROM {FEATURES_TABLE} WHERE profile_id = ANY(%b::uuid[])", [list(profile_ids)])  # noqa: S608


@dataclass
class _Resolution:
    """Who is who in one batch: every identifier's component, and each component's profile."""

    graph: _UnionFind
    rows: dict[UUID, _ProfileRow]
    known: dict[Key, UUID]  # identifiers already stored, with their live profile
    assigned: dict[Any, UUID]  # component root -> its profile
    merges: list[_Merge]
    keys: list[Key]
    features: dict[UUID, Any]  # as _Read.features
    versions: dict[UUID, str | None]  # as _Read.versions

    def profile_of(self, observation: Observation) -> UUID:
        return self.assigned[self.graph.find(observation.keys[0])]


def _resolve(read: _Read, keys: list[Key], observations: Sequence[Observation], now: datetime) -> _Resolution:
    """Group the batch's identifiers into people, from what ``read`` found: identifiers seen
    together in one event, or stored on one profile, are the same person. A person with no
    profile yet gets a new one; a person found on several is merged into the oldest
    (created_at, then id: deterministic)."""
    found, rows, redirects = read.found, dict(read.rows), read.redirects

    graph = _UnionFind()
    known: dict[Key, UUID] = {}
    for key, profile_id in found.items():
        live = _live(profile_id, redirects)
        if live in rows:  # else the profile vanished (erased): treat the identifier as new
            known[key] = live
            graph.union(key, ("profile", live))
    for observation in observations:
        first = observation.keys[0]
        graph.find(first)
        for key in observation.keys[1:]:
            graph.union(first, key)

    members: dict[Any, list[Key]] = defaultdict(list)
    for key in keys:
        members[graph.find(key)].append(key)
    owned: dict[Any, set[UUID]] = defaultdict(set)
    for key, profile_id in known.items():
        owned[graph.find(key)].add(profile_id)

    assigned: dict[Any, UUID] = {}
    merges: list[_Merge] = []
    for root, component in members.items():
        candidates = sorted(owned.get(root, ()), key=lambda pid: (rows[pid].created_at, str(pid)))
        if not candidates:
            row = _ProfileRow(id=uuid4(), created_at=now, loaded=True, is_new=True)
            rows[row.id] = row
            assigned[root] = row.id
            continue
        assigned[root] = candidates[0]
        if len(candidates) > 1:
            merges.append(_Merge(survivor=candidates[0], losers=candidates[1:], keys=component))
    return _Resolution(
        graph=graph,
        rows=rows,
        known=known,
        assigned=assigned,
        merges=merges,
        keys=keys,
        features=read.features,
        versions=read.versions,
    )


def _golden_records_update(
    resolution: _Resolution, observations: Sequence[Observation], precedence: Mapping[str, int]
) -> dict[int, UUID]:
    """Combine merged profiles, then apply each observation's traits, consent and group in
    event-time order. Returns each observation's profile."""
    rows = resolution.rows
    to_load = [rows[pid] for merge in resolution.merges for pid in (merge.survivor, *merge.losers)]
    to_load += [rows[resolution.profile_of(o)] for o in observations if o.traits or o.group_id]
    _profiles_load(to_load)

    for merge in resolution.merges:
        target = rows[merge.survivor]
        for loser in (rows[loser_id] for loser_id in merge.losers):
            traits_combine(
                traits=target.traits,
                meta=target.trait_meta,
                other_traits=loser.traits,
                other_meta=loser.trait_meta,
                precedence=precedence,
            )
            consent_combine(consent=target.consent, other=loser.consent)
            groups_combine(groups=target.groups, other=loser.groups)
        target.dirty = True

    resolved: dict[int, UUID] = {}
    for observation in sorted(observations, key=lambda o: (o.timestamp, o.ref)):
        profile_id = resolution.profile_of(observation)
        resolved[observation.ref] = profile_id
        row = rows[profile_id]
        at = at_str(observation.timestamp)
        if observation.traits:
            source = observation.trait_source
            row.dirty |= traits_apply(
                traits=row.traits,
                meta=row.trait_meta,
                incoming=observation.traits,
                source=source,
                at=at,
                precedence=precedence,
            )
            consent = consent_from_traits(observation.traits)
            if consent:
                row.dirty |= consent_apply(consent=row.consent, changes=consent, source=source, at=at)
        if observation.group_id:
            row.dirty |= groups_apply(
                groups=row.groups, group_id=observation.group_id, traits=observation.group_traits, at=at
            )
    return resolved


# Features writes prepared before the locks: (the profile, None for a new one; the refs of its
# events) -> (the features version they were computed from; the state and computed features, as JSON)
_FeatureWrites = dict[tuple[UUID | None, tuple[int, ...]], tuple[str | None, str, str]]


def _prepared_key(row: _ProfileRow, observed: Sequence[Observation]) -> tuple[UUID | None, tuple[int, ...]]:
    """Who a prepared features update is for: the profile (None for a new one) and its events."""
    return (None if row.is_new else row.id, tuple(o.ref for o in observed))


def _feature_events(observations: Sequence[Observation], resolved: Mapping[int, UUID]) -> dict[UUID, list[Observation]]:
    by_profile: dict[UUID, list[Observation]] = defaultdict(list)
    for observation in observations:
        if observation.feature is not None:
            by_profile[resolved[observation.ref]].append(observation)
    return by_profile


def _features_computed(
    state: dict[str, Any] | None, observed: Sequence[Observation], now: datetime, config: FeatureConfig
) -> tuple[str, str]:
    """A person's features with ``observed`` applied: state and computed features, as JSON."""
    now_epoch = now.timestamp()
    applied = state_apply(state, [o.feature for o in observed if o.feature is not None], now=now_epoch, config=config)
    return _dumps(applied), _dumps(features_compute(applied, now=now_epoch, config=config))


def _features_prepare(guess: _Resolution, observations: Sequence[Observation], now: datetime) -> _FeatureWrites:
    """Every person's features update as ``guess`` (grouped from an unlocked read) sees the batch,
    for ``_features_update`` to use wherever the locked read agrees. People in a merge are left
    to it."""
    config = feature_config()
    in_merges = {pid for merge in guess.merges for pid in (merge.survivor, *merge.losers)}
    prepared: _FeatureWrites = {}
    for pid, observed in _feature_events(observations, {o.ref: guess.profile_of(o) for o in observations}).items():
        if pid in in_merges:
            continue
        row = guess.rows[pid]
        version, state = (None, None) if row.is_new else (guess.versions[pid], _loads(guess.features[pid]))
        prepared[_prepared_key(row, observed)] = (version, *_features_computed(state, observed, now, config))
    return prepared


def _features_update(
    workspace_id: UUID,
    resolution: _Resolution,
    observations: Sequence[Observation],
    resolved: Mapping[int, UUID],
    now: datetime,
    *,
    writes: WriteBatch | None,
    prepared: _FeatureWrites,
) -> None:
    """Each touched person's features once: merged-away profiles' counters folded into the
    survivor's, then every new event of the batch applied. A person's update from ``prepared`` is
    used when it was computed from the same events and the features version read under the lock.
    The upsert goes into ``writes`` when given (the caller flushes it), else runs now."""
    by_profile = _feature_events(observations, resolved)
    losers_of = {merge.survivor: merge.losers for merge in resolution.merges}
    all_losers = [loser for merge in resolution.merges for loser in merge.losers]
    written: dict[UUID, tuple[str, str]] = {}
    for pid, observed in by_profile.items():
        if pid in losers_of:
            continue
        row = resolution.rows[pid]
        hit = prepared.get(_prepared_key(row, observed))
        if hit is not None and (row.is_new or (pid in resolution.versions and resolution.versions[pid] == hit[0])):
            written[pid] = (hit[1], hit[2])
    touched = (set(by_profile) | set(losers_of)) - set(written)
    stored = _features_load(resolution, [*touched, *all_losers])
    config = feature_config()
    for pid in touched:
        state = stored.get(pid)
        if pid in losers_of:
            others = [stored.get(loser, {}) for loser in losers_of[pid]]
            state = state_merge(state, others, now=now.timestamp(), config=config)
        written[pid] = _features_computed(state, by_profile.get(pid, ()), now, config)
    _features_write(workspace_id, written, now, writes)
    _features_delete(all_losers)


def _merges_record(workspace: Workspace, merges: Sequence[_Merge]) -> None:
    for merge in merges:
        identifiers = keys_describe(merge.keys)
        merged = [str(loser) for loser in merge.losers]
        audit_record(
            workspace=workspace,
            actor=None,
            action="profile.merged",
            target_type="Profile",
            target_id=str(merge.survivor),
            before={"profiles": [str(merge.survivor), *merged]},
            after={"survivor": str(merge.survivor), "merged": merged},
            reason=f"shared identifiers: {', '.join(identifiers)}",
        )
        domain_events.publish(
            domain_events.PROFILE_MERGED,
            workspace_id=workspace.id,
            payload={"survivor_id": str(merge.survivor), "merged_ids": merged, "identifiers": identifiers},
        )


def _identified(observations: Sequence[Observation]) -> list[Observation]:
    """The observations with at least one usable identifier, their ``keys`` set."""
    for observation in observations:
        observation.keys = observation_keys(observation)
    return [o for o in observations if o.keys]


@dataclass
class PreparedBatch:
    """An ingest batch's work done before its identity locks (``profiles_prepare``)."""

    observations: list[Observation]  # those with identifiers
    keys: list[Key]
    now: datetime
    peek: _Read
    guess: _Resolution
    features: _FeatureWrites
    profiles: dict[int, UUID]  # each observation's profile as guessed: {observation.ref: profile_id}


def profiles_prepare(*, workspace: Workspace, observations: Sequence[Observation], now: datetime) -> PreparedBatch:
    """Guess, from a read without locks, each observation's profile and every person's features
    update, so that ``profiles_observe`` holds the identity locks for less time: it uses what it
    finds unchanged under the locks and redoes the rest. The caller may write with the guessed
    profiles before ``profiles_observe``, and must correct, before its transaction ends, any
    that differ from what ``profiles_observe`` returns. One more round trip: worth it for big
    batches (``INGEST_PREPARE_MIN_EVENTS``), whose locks are held longest and collide most."""
    identified = _identified(observations)
    keys = sorted({key for observation in identified for key in observation.keys})
    peek = _identifiers_peek(workspace.id, keys)
    guess = _resolve(peek, keys, identified, now)
    return PreparedBatch(
        observations=identified,
        keys=keys,
        now=now,
        peek=peek,
        guess=guess,
        features=_features_prepare(guess, identified, now),
        profiles={o.ref: guess.profile_of(o) for o in identified},
    )


def profiles_observe(
    *,
    workspace: Workspace,
    observations: Sequence[Observation],
    now: datetime | None = None,
    writes: WriteBatch | None = None,
    prepared: PreparedBatch | None = None,
) -> dict[int, UUID]:
    """Resolve each observation to its person's profile (creating and merging profiles as the
    identifiers require), update the golden record and the real-time features, and return
    ``{observation.ref: profile_id}``. Must run inside the caller's transaction. Observations
    without any usable identifier are left out of the result. With ``writes``, the features
    upsert is added to it instead of run, to go in one round trip with the caller's own writes:
    the caller must flush it before its transaction ends. ``prepared``: ``profiles_prepare``'s
    result for these same observations, in the same transaction."""
    if prepared is None:
        now = now or timezone.now()
        observations = _identified(observations)
        keys = sorted({key for observation in observations for key in observation.keys})
    else:
        observations, keys, now = prepared.observations, prepared.keys, prepared.now
    if not observations:
        return {}

    locked = _identifiers_lock_profiles(workspace.id, keys, prepared.peek if prepared else None)
    if prepared is not None and locked.same_people(prepared.peek):  # grouped as guessed: reuse it
        resolution = replace(prepared.guess, features=locked.features, versions=locked.versions)
    else:
        resolution = _resolve(locked, keys, observations, now)
    resolved = _golden_records_update(resolution, observations, trait_precedence())

    rows = resolution.rows.values()
    new_identifiers = [(key, resolution.assigned[resolution.graph.find(key)]) for key in resolution.keys]
    _profiles_insert(workspace.id, [r for r in rows if r.is_new], now)
    _profiles_update([r for r in rows if r.dirty and not r.is_new], now)
    _merges_write(workspace.id, resolution.merges, now)
    _identifiers_insert(workspace.id, [(k, p) for k, p in new_identifiers if k not in resolution.known], now)
    features = prepared.features if prepared else {}
    _features_update(workspace.id, resolution, observations, resolved, now, writes=writes, prepared=features)
    _merges_record(workspace, resolution.merges)  # last: the audit chain lock must be the final lock taken
    return resolved


CONSENT_ACTION = "profile.consent_changed"


@transaction.atomic
def profile_consent_set(
    *, profile: Profile, changes: Mapping[str, bool], actor: Actor, reason: str = "", now: datetime | None = None
) -> Profile:
    """Record consent per channel from an explicit statement (management API), audited."""
    now = now or timezone.now()
    locked = Profile.objects.select_for_update().get(pk=profile.pk)
    for _ in range(MAX_MERGE_CHAIN):  # merged since it was read: the survivor holds consent now
        if locked.merged_into_id is None:
            break
        locked = Profile.objects.select_for_update().get(pk=locked.merged_into_id)
    before = {channel: (locked.consent.get(channel) or {}).get("granted") for channel in changes}
    consent = dict(locked.consent)
    consent_apply(consent=consent, changes=changes, source=SOURCE_API, at=at_str(now))
    locked.consent = consent
    locked.save(update_fields=["consent", "updated_at"])
    audit_record(
        workspace=locked.workspace,
        actor=actor,
        action=CONSENT_ACTION,
        target_type="Profile",
        target_id=str(locked.pk),
        before=before,
        after=dict(changes),
        reason=reason,
    )
    return locked
