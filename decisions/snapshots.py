"""Loading what a decision reads, in as few round trips as the hot path allows.

A decision reads two kinds of data:

- the workspace's **catalog**: the live policy, the enabled actions and the guardrail config.
  It changes when someone edits it, which is rare next to how often we decide, so each process
  keeps the last one it loaded per workspace (``Catalog``);
- the **person's state**: features, scores, bandit arms of the policy, recent contacts and open
  suppression windows. It changes all the time and is read fresh every time.

``person_state_load`` reads all of the person's state in one statement, and the same statement
returns the catalog's current **stamp** (a version that database triggers bump on every change
to the workspace's actions, policies and guardrail config, ``models.CatalogStamp``). When the
stamp differs from the cached catalog's, the catalog is reloaded before deciding, so an edit
made in another process is seen by the very next decision, never a stale one. The per-process
cache is therefore a saving of three queries per decision with no staleness window.

``person_state_load`` also takes the person's decision lock, in the same round trip (a database
function, migration 0007): the state is read after the lock is granted, so contacts counted for
caps include every decision committed before ours. Call it inside the transaction that will
store the decision.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from psycopg.types.json import Jsonb

from accounts.models import Workspace
from core import fastjson
from decisions.engine import ActionSpec, Snapshot
from decisions.guardrails import CONTACT_CHANNELS
from decisions.models import ACTED_STATUSES, Action, CatalogSnapshot, GuardrailConfig, Policy, PolicyStatus
from profiles.sql import bulk_execute, bulk_fetchall

SPEC_FIELDS = (
    "id",
    "key",
    "name",
    "channel",
    "kind",
    "subject",
    "content",
    "value_model",
    "value_amount",
    "value_share",
    "value_expression",
    "cost",
    "discount_percent",
    "eligibility",
    "risk_tier",
    "autonomy",
    "active_from",
    "active_until",
)

# The catalog's version: a counter that triggers on the catalog tables bump on any change, through a
# service, a bulk update or another process (models.CatalogStamp). One primary-key probe.
_STAMP_SQL = """
(SELECT coalesce((SELECT 'v' || s.version FROM decisions_catalogstamp s WHERE s.workspace_id = %(workspace)s), 'v0'))
"""
# The person's state and the stamp come from ``decisions_person_state`` (migration 0007), which
# takes the person's decision lock first.
_PERSON_SQL = "SELECT * FROM decisions_person_state(%s, %s, %s, %s, %s, %s, %b, %b)"


def _spec(row: Mapping[str, Any], weight: float) -> ActionSpec:
    return ActionSpec(
        key=row["key"],
        name=row["name"],
        channel=row["channel"],
        kind=row["kind"],
        subject=row["subject"],
        content=row["content"],
        value_model=row["value_model"],
        value_amount=float(row["value_amount"]),
        value_share=float(row["value_share"]),
        value_expression=row["value_expression"],
        cost=float(row["cost"]),
        discount_percent=float(row["discount_percent"]) if row["discount_percent"] is not None else None,
        eligibility=row["eligibility"],
        risk_tier=row["risk_tier"],
        autonomy=row["autonomy"],
        weight=weight,
    )


@dataclass(frozen=True)
class CandidateSpecs:
    """The actions one decision chooses from, as the engine reads them, and their stored name."""

    specs: tuple[ActionSpec, ...]
    ids: Mapping[str, Any]  # action key -> Action id
    ref: str  # CatalogSnapshot.ref: a digest of the workspace and the specs
    payload: list[dict[str, Any]]  # the specs as JSON, for the CatalogSnapshot row


_MEMO_LIMIT = 256


@dataclass(frozen=True)
class Catalog:
    """One workspace's catalog as of ``stamp``. Shared between threads: treat as read-only."""

    stamp: str
    live_policy: Policy
    actions: tuple[Mapping[str, Any], ...]  # enabled actions as plain rows (SPEC_FIELDS)
    contact_policy: Mapping[str, Any]
    brand_safety: Mapping[str, Any]
    workspace_id: Any = None
    # Specs per (policy, weights, actions): built and digested once per catalog, not per decision.
    _memo: dict[tuple[Any, ...], CandidateSpecs] = field(default_factory=dict, compare=False, repr=False)

    def candidate_specs(self, policy: Policy, now: datetime, only: Sequence[str] | None) -> CandidateSpecs:
        rows = self.active_actions(policy, now, only)
        weights = policy.weights or {}
        memo_key = (policy.key, policy.version, tuple(sorted(weights.items())), tuple(a["key"] for a in rows))
        found = self._memo.get(memo_key)
        if found is None:
            specs = tuple(_spec(a, float(weights.get(a["key"], 1.0))) for a in rows)
            payload = [dict(vars(spec)) for spec in specs]
            canonical = json.dumps([str(self.workspace_id), payload], sort_keys=True, separators=(",", ":"))
            found = CandidateSpecs(
                specs=specs,
                ids={a["key"]: a["id"] for a in rows},
                ref=hashlib.sha256(canonical.encode()).hexdigest(),
                payload=payload,
            )
            if len(self._memo) < _MEMO_LIMIT:  # `only` lists from callers could otherwise grow it without end
                self._memo[memo_key] = found
        return found

    def active_actions(self, policy: Policy, now: datetime, only: Sequence[str] | None) -> list[Mapping[str, Any]]:
        allowed = set(policy.action_keys or ()) or None
        wanted = set(only) if only else None
        return [
            a
            for a in self.actions
            if (allowed is None or a["key"] in allowed)
            and (wanted is None or a["key"] in wanted)
            and (a["active_from"] is None or a["active_from"] <= now)
            and (a["active_until"] is None or now < a["active_until"])
        ]


@dataclass(frozen=True)
class PersonState:
    features_state: Mapping[str, Any] | None
    scores: list[tuple[str, float, Any, str]]  # (kind, value, explanation, model version)
    arms: dict[str, Mapping[str, list[float]]]
    contacts: list[tuple[str, str]]  # (channel, ISO time)
    suppressions: list[dict[str, Any]]
    stamp: str


_lock = threading.Lock()
_catalogs: dict[UUID, Catalog] = {}


def _default_live_policy(workspace: Workspace) -> Policy:
    return Policy(workspace=workspace, key="default", name="Default", status=PolicyStatus.LIVE, version=0)


def catalog_load(workspace: Workspace) -> Catalog:
    """Read the catalog from the database (three queries and the stamp) and cache it."""
    from decisions.services import default_suppression_rules

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_STAMP_SQL}", {"workspace": workspace.id})
        stamp = str(cursor.fetchone()[0])
    policy = Policy.objects.filter(workspace=workspace, status=PolicyStatus.LIVE).first()
    config = GuardrailConfig.objects.filter(workspace=workspace).first() or GuardrailConfig(
        workspace=workspace, suppression_rules=default_suppression_rules()
    )
    catalog = Catalog(
        stamp=stamp,
        live_policy=policy or _default_live_policy(workspace),
        actions=tuple(Action.objects.filter(workspace=workspace, enabled=True).order_by("name").values(*SPEC_FIELDS)),
        contact_policy=dict(config.contact_policy or {}),
        brand_safety=dict(config.brand_safety or {}),
        workspace_id=workspace.id,
    )
    with _lock:
        _catalogs[workspace.id] = catalog
    return catalog


def catalog_cached(workspace: Workspace) -> Catalog:
    """The cached catalog, loading it on first use. It may be stale: decide only with a catalog
    whose stamp matches the one ``person_state_load`` returns (``catalog_current``)."""
    with _lock:
        catalog = _catalogs.get(workspace.id)
    return catalog if catalog is not None else catalog_load(workspace)


def catalog_current(workspace: Workspace, stamp: str) -> Catalog:
    catalog = catalog_cached(workspace)
    return catalog if catalog.stamp == stamp else catalog_load(workspace)


def catalog_forget(workspace_id: UUID | None = None) -> None:
    """Drop cached catalogs (all of them without an id). Not needed for correctness: every
    decision compares the cached catalog's stamp with the database's and reloads on a change."""
    with _lock:
        if workspace_id is None:
            _catalogs.clear()
        else:
            _catalogs.pop(workspace_id, None)


def _iso(value: Any) -> str:
    """PostgreSQL's JSON renders timestamptz as ISO 8601; normalise to Python's isoformat so a
    snapshot reads the same however it was loaded."""
    return datetime.fromisoformat(value).isoformat() if isinstance(value, str) else value.isoformat()


def _json(value: Any) -> Any:
    return fastjson.loads(value) if isinstance(value, str | bytes) else value


def person_lock_key(profile_id: UUID) -> int:
    """The advisory lock that serialises decisions for one person."""
    return int.from_bytes(hashlib.sha256(f"decide:{profile_id}".encode()).digest()[:8], "big", signed=True)


_ACTED = [str(status) for status in ACTED_STATUSES]
_CHANNELS = list(CONTACT_CHANNELS)


def person_state_load(*, workspace: Workspace, profile_id: UUID, policy_key: str, now: datetime) -> PersonState:
    """Take the person's decision lock (held until the caller's transaction ends), then read their
    state and the catalog stamp: one round trip. The state is read after the lock is granted, so
    the contacts counted for caps include every decision committed before ours."""
    (row,) = bulk_fetchall(
        _PERSON_SQL,
        [
            person_lock_key(profile_id),
            workspace.id,
            profile_id,
            policy_key,
            now - timedelta(days=7),
            now,
            _ACTED,
            _CHANNELS,
        ],
    )
    # The bulk cursor hands json back as text, as Django's psycopg setup does jsonb.
    features_state, scores, arms, contacts, suppressions = (_json(value) for value in row[:5])
    stamp = row[5]
    return PersonState(
        features_state=features_state,
        scores=[(kind, float(value), explanation, str(version)) for kind, value, explanation, version in scores],
        arms=dict(arms),
        contacts=[(channel, _iso(at)) for channel, at in contacts],
        suppressions=[
            {"reason": reason, "until": _iso(until), "kinds": kinds, "channels": channels}
            for reason, until, kinds, channels in suppressions
        ],
        stamp=str(stamp),
    )


# Catalog snapshots this process has seen committed: their rows exist, no need to write them again.
_stored_refs: set[str] = set()
_CATALOG_SNAPSHOT_INSERT = (
    "INSERT INTO decisions_catalogsnapshot (ref, workspace_id, actions, created_at) "
    "VALUES (%s, %s, %s, now()) ON CONFLICT (ref) DO NOTHING"
)


def catalog_snapshot_store(*, workspace_id: Any, candidates: CandidateSpecs) -> None:
    """Make sure ``candidates.ref`` names a stored row, inside the caller's transaction (the row
    commits or rolls back with the decision that refers to it). Once per process and ref."""
    if candidates.ref in _stored_refs:
        return
    bulk_execute(_CATALOG_SNAPSHOT_INSERT, [candidates.ref, workspace_id, Jsonb(candidates.payload)])
    ref = candidates.ref
    transaction.on_commit(lambda: _stored_refs.add(ref))


@functools.lru_cache(maxsize=256)
def _stored_actions(ref: str) -> tuple[dict[str, Any], ...]:
    row = CatalogSnapshot.objects.filter(ref=ref).values_list("actions", flat=True).first()
    if row is None:
        raise LookupError(f"catalog snapshot {ref} is missing")
    return tuple(row)


def snapshot_restore(data: Mapping[str, Any]) -> Snapshot:
    """The Snapshot a decision stored in ``inputs["snapshot"]``, with its action specs looked up
    when they were stored by reference (older decisions carry them inline)."""
    values = dict(data)
    ref = values.pop("actions_ref", None)
    if ref is not None:
        values["actions"] = [dict(a) for a in _stored_actions(str(ref))]
    return Snapshot.from_json(values)
