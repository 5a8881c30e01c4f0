"""Subject rights: export everything held about a person, and erase it.

Export gathers the golden record and what every app registered in ``profiles.subject_rights``
holds (events, decisions, tickets, ...). Erasure, in one transaction: runs every app's erase
handler (delete or anonymise), blanks the person's values in old audit entries (the chain still
verifies: see ``audit.services.audit_redact``), adds the identifiers to the suppression list as
keyed hashes so later events for them are dropped, and records one redacted audit entry. After
commit it removes stored task results and cache entries that mention the person.

The profile row itself stays as an empty tombstone (no traits, consent or identifiers), so
decisions and outcomes keep counting in aggregates (lift, bandit learning) without naming anyone.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from accounts.models import Workspace
from accounts.principals import Actor
from audit.services import audit_record, audit_redact
from profiles.identity import normalise
from profiles.models import (
    Identifier,
    IdentifierKind,
    ItemEngagement,
    Profile,
    ProfileEmbedding,
    ProfileFeatures,
    SuppressedIdentifier,
)
from profiles.selectors import profile_features
from profiles.subject_rights import subject_data_erase, subject_data_export

logger = logging.getLogger(__name__)

ERASED = "[erased]"
TRAIT_PREFIX = "trait:"
# Values shorter than this are not searched for in free text (they would hit everything).
MIN_SCRUB_LENGTH = 3


def identifier_digest(*, workspace_id: UUID | str, kind: str, value: str) -> str:
    """Keyed hash of a normalised identifier: equal inputs give equal digests, the value cannot be
    read back, and digests differ between workspaces."""
    key = f"{settings.SECRET_KEY}:suppression:{workspace_id}".encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def subject_profile_ids(profile: Profile) -> list[UUID]:
    """The live profile and every profile merged into it (at any depth)."""
    ids = [profile.id]
    frontier = [profile.id]
    while frontier:
        frontier = list(Profile.objects.filter(merged_into_id__in=frontier).values_list("id", flat=True))
        frontier = [pid for pid in frontier if pid not in ids]
        ids.extend(frontier)
    return ids


def _trait_values(traits: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(traits, dict):
        for name, value in traits.items():
            yield from _trait_values(value, f"{prefix}{name}.")
    elif isinstance(traits, list):
        for value in traits:
            yield from _trait_values(value, prefix)
    elif isinstance(traits, str | int) and not isinstance(traits, bool):
        text = str(traits).strip()
        if len(text) >= MIN_SCRUB_LENGTH and not _is_plain_number(text):
            yield (TRAIT_PREFIX + prefix.rstrip("."), text)


def _is_plain_number(text: str) -> bool:
    # Ages, counts and amounts are not identifying on their own and would match unrelated numbers.
    return bool(re.fullmatch(r"-?\d{1,6}(\.\d+)?", text))


def subject_identifiers(profile_ids: Sequence[UUID]) -> list[tuple[str, str]]:
    """(kind, value) of every identifier of the person, then ("trait:<name>", value) of every
    personal trait value, so erase handlers can scrub copies in free-form columns."""
    pairs: list[tuple[str, str]] = list(
        Identifier.objects.filter(profile_id__in=profile_ids).order_by("kind", "value").values_list("kind", "value")
    )
    for traits in Profile.objects.filter(id__in=profile_ids).values_list("traits", flat=True):
        for pair in _trait_values(traits or {}):
            if pair not in pairs:
                pairs.append(pair)
    return pairs


def scrub_values(identifiers: Sequence[tuple[str, str]]) -> list[str]:
    """The strings to look for in free text, longest first (so a full name goes before a first name)."""
    values = {value for _, value in identifiers if value and len(value) >= MIN_SCRUB_LENGTH}
    return sorted(values, key=len, reverse=True)


def scrub(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` with every occurrence of the secrets (case-insensitive) replaced, in nested JSON too."""
    if not secrets:
        return value
    if isinstance(value, str):
        pattern = re.compile("|".join(re.escape(s) for s in secrets), re.IGNORECASE)
        return pattern.sub(ERASED, value)
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    return value


def text_fields(model: type[models.Model]) -> list[str]:
    """The free-form columns of a model (where personal values may have been copied)."""
    kinds = (models.CharField, models.TextField, models.JSONField)
    return [
        f.attname
        for f in model._meta.concrete_fields
        if isinstance(f, kinds) and not f.primary_key and not getattr(f, "choices", None)
    ]


def rows_scrub(queryset: models.QuerySet[Any], secrets: Sequence[str], exclude: Sequence[str] = ()) -> int:
    """Scrub every free-form column of the given rows in place; returns the rows changed."""
    if not secrets:
        return 0
    names = [name for name in text_fields(queryset.model) if name not in exclude]
    changed = 0
    for row in queryset.only("pk", *names).iterator(chunk_size=500):
        updates = {}
        for name in names:
            before = getattr(row, name)
            after = scrub(before, secrets)
            if after != before:
                updates[name] = after
        if updates:
            queryset.model._default_manager.filter(pk=row.pk).update(**updates)
            changed += 1
    return changed


# --- handlers for the profiles app itself -------------------------------------------------------------------------


def profiles_export_for_subject(*, workspace: Workspace, profile_ids: Sequence[UUID]) -> dict[str, Any]:
    profiles = list(Profile.objects.filter(workspace=workspace, id__in=profile_ids))
    live = next((p for p in profiles if p.merged_into_id is None), profiles[0] if profiles else None)
    engagements = ItemEngagement.objects.filter(workspace=workspace, profile_id__in=profile_ids).select_related("item")
    return {
        "profile_id": str(live.id) if live else None,
        "merged_profile_ids": [str(p.id) for p in profiles if p is not live],
        "traits": live.traits if live else {},
        "trait_sources": live.trait_meta if live else {},
        "consent": live.consent if live else {},
        "groups": live.groups if live else {},
        "identifiers": [
            {"kind": kind, "value": value, "since": created.isoformat()}
            for kind, value, created in Identifier.objects.filter(workspace=workspace, profile_id__in=profile_ids)
            .order_by("kind", "value")
            .values_list("kind", "value", "created_at")
        ],
        "features": profile_features(profile=live) if live else {},
        "item_engagements": [
            {
                "item": e.item.external_id,
                "name": e.item.name,
                "weight": round(e.weight, 4),
                "last_at": e.last_at.isoformat(),
            }
            for e in engagements
        ],
        "has_taste_vector": ProfileEmbedding.objects.filter(profile_id__in=profile_ids).exists(),
        "created_at": live.created_at.isoformat() if live else None,
    }


def profiles_erase_for_subject(
    *, workspace: Workspace, profile_ids: Sequence[UUID], identifiers: Sequence[tuple[str, str]]
) -> int:
    touched = 0
    touched += Identifier.objects.filter(workspace=workspace, profile_id__in=profile_ids).delete()[0]
    touched += ProfileFeatures.objects.filter(profile_id__in=profile_ids).delete()[0]
    touched += ProfileEmbedding.objects.filter(profile_id__in=profile_ids).delete()[0]
    touched += ItemEngagement.objects.filter(workspace=workspace, profile_id__in=profile_ids).delete()[0]
    touched += Profile.objects.filter(workspace=workspace, id__in=profile_ids).update(
        traits={}, trait_meta={}, consent={}, groups={}, updated_at=timezone.now()
    )
    return touched


# --- the services -------------------------------------------------------------------------------------------------


def subject_export(*, workspace: Workspace, profile: Profile, actor: Actor, reason: str = "") -> dict[str, Any]:
    """Everything held about the person, as JSON-safe data; the export is audited."""
    profile_ids = subject_profile_ids(profile)
    data = {
        "workspace": workspace.slug,
        "exported_at": timezone.now().isoformat(),
        "profile_id": str(profile.id),
        "data": subject_data_export(workspace=workspace, profile_ids=profile_ids),
    }
    audit_record(
        workspace=workspace,
        actor=actor,
        action="subject.exported",
        target_type="Profile",
        target_id=str(profile.id),
        after={"profiles": len(profile_ids), "sections": sorted(data["data"])},
        reason=reason,
    )
    return data


def suppression_add(*, workspace: Workspace, identifiers: Iterable[tuple[str, str]]) -> int:
    rows = []
    for kind, value in identifiers:
        if kind not in IdentifierKind.values:
            continue
        normalised = normalise(kind, value)
        if normalised is None:
            continue
        digest = identifier_digest(workspace_id=workspace.id, kind=kind, value=normalised)
        rows.append(SuppressedIdentifier(workspace=workspace, kind=kind, digest=digest))
    SuppressedIdentifier.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


@transaction.atomic
def subject_erase(*, workspace: Workspace, profile: Profile, actor: Actor, reason: str = "") -> dict[str, Any]:
    """Erase the person everywhere (see the module docstring). Returns what was touched."""
    locked = Profile.objects.select_for_update().get(pk=profile.pk)
    profile_ids = subject_profile_ids(locked)
    identifiers = subject_identifiers(profile_ids)
    secrets = scrub_values(identifiers)
    suppressed = suppression_add(workspace=workspace, identifiers=identifiers)
    touched = subject_data_erase(workspace=workspace, profile_ids=profile_ids, identifiers=identifiers)
    redacted = audit_redact(workspace=workspace, values=secrets)
    summary = {
        "profiles": len(profile_ids),
        "identifiers_suppressed": suppressed,
        "rows": touched,
        "redacted_seqs": redacted,
    }
    audit_record(
        workspace=workspace,
        actor=actor,
        action="subject.erased",
        target_type="Profile",
        target_id=str(locked.id),
        after=summary,
        reason=scrub(reason, secrets),
    )
    transaction.on_commit(lambda: erase_outside_database(secrets))
    return summary


def erase_outside_database(secrets: Sequence[str], max_keys: int = 20000) -> int:
    """Stored Celery task results and cache entries that mention the person (bounded scan)."""
    if not secrets:
        return 0
    try:
        import redis

        client = redis.Redis.from_url(settings.CELERY_RESULT_BACKEND)
        needles = [s.encode().lower() for s in secrets]
        removed = 0
        for count, key in enumerate(client.scan_iter(match="*", count=500)):
            if count >= max_keys:
                break
            if client.type(key) != b"string":
                continue
            value = client.get(key)
            if value is not None and any(n in value.lower() for n in needles):
                client.delete(key)
                removed += 1
        return removed
    except Exception:  # the database erasure is done; a cache that cannot be reached is logged
        logger.exception("erasure: could not scan task results and caches")
        return 0
