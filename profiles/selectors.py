"""Reads of profiles. A merged-away profile id resolves to its survivor everywhere."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Func, Q, QuerySet, TextField, Value
from django.http import Http404
from django.utils import timezone
from pgvector.django import CosineDistance

from accounts.models import Workspace
from accounts.principals import Actor
from accounts.roles import MANAGE_CATALOG, VIEW, WORK_TICKETS
from accounts.selectors import workspace_can, workspace_require
from profiles.features import feature_config, features_compute
from profiles.identity import MAX_MERGE_CHAIN, normalise
from profiles.models import (
    Identifier,
    IdentifierKind,
    Item,
    ItemEngagement,
    Profile,
    ProfileEmbedding,
    ProfileFeatures,
    search_prefixes,
)


def _follow(profile: Profile | None) -> Profile | None:
    for _ in range(MAX_MERGE_CHAIN):
        if profile is None or profile.merged_into_id is None:
            return profile
        profile = Profile.objects.filter(pk=profile.merged_into_id).first()
    return profile


def profile_find(*, workspace: Workspace, profile_id: UUID | str) -> Profile | None:
    """The live profile for an id (following merges), without a permission check: for
    services and tasks that already act for the workspace."""
    try:
        found = Profile.objects.filter(workspace=workspace, pk=profile_id).first()
    except (ValueError, ValidationError):
        return None
    return _follow(found)


def profile_get(*, actor: Actor, workspace: Workspace, profile_id: UUID | str) -> Profile:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    found = profile_find(workspace=workspace, profile_id=profile_id)
    if found is None:
        raise Http404("No such profile in this workspace.")
    return found


def profile_get_for_consent(*, actor: Actor, workspace: Workspace, profile_id: UUID | str) -> Profile:
    """Consent may be recorded by whoever works with customers: marketers (manage_catalog),
    support agents (work_tickets), owners and admins, and secret keys."""
    profile = profile_get(actor=actor, workspace=workspace, profile_id=profile_id)
    allowed = workspace_can(actor=actor, workspace=workspace, codename=MANAGE_CATALOG) or workspace_can(
        actor=actor, workspace=workspace, codename=WORK_TICKETS
    )
    if not allowed:
        raise PermissionDenied("Your role does not allow changing consent.")
    return profile


def profile_by_identifier(*, workspace: Workspace, kind: str, value: str) -> Profile | None:
    """Look a person up by any identifier (email and phone are normalised as on ingest)."""
    if kind not in IdentifierKind.values:
        return None
    normalised = normalise(kind, value)
    if normalised is None:
        return None
    identifier = Identifier.objects.filter(workspace=workspace, kind=kind, value=normalised).only("profile_id").first()
    if identifier is None:
        return None
    return profile_find(workspace=workspace, profile_id=identifier.profile_id)


def profile_lookup(*, actor: Actor, workspace: Workspace, kind: str, value: str) -> Profile:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    found = profile_by_identifier(workspace=workspace, kind=kind, value=value)
    if found is None:
        raise Http404("No profile with that identifier in this workspace.")
    return found


def profile_identifiers(*, profile: Profile) -> QuerySet[Identifier]:
    return Identifier.objects.filter(profile=profile).order_by("kind", "value")


def profile_live_count(*, workspace: Workspace) -> int:
    return Profile.objects.filter(workspace=workspace, merged_into__isnull=True).count()


def profile_features(*, profile: Profile, now: datetime | None = None) -> dict[str, Any]:
    """Feature values as of ``now`` (default: this moment), recomputed from the stored
    counters so windows and decay are current even when the person has been quiet."""
    row = ProfileFeatures.objects.filter(profile=profile).only("state").first()
    moment = (now or timezone.now()).timestamp()
    return features_compute(row.state if row else None, now=moment, config=feature_config())


def profile_consent(*, profile: Profile, channel: str) -> bool | None:
    """True/False when the person said so for the channel, None when unknown."""
    entry = profile.consent.get(channel)
    return entry.get("granted") if isinstance(entry, dict) else None


def item_get(*, actor: Actor, workspace: Workspace, external_id: str) -> Item:
    workspace_require(actor=actor, workspace=workspace)
    item = Item.objects.filter(workspace=workspace, external_id=external_id).first()
    if item is None:
        raise Http404("No such item in this workspace.")
    return item


def item_list(*, actor: Actor, workspace: Workspace, search: str = "") -> QuerySet[Item]:
    workspace_require(actor=actor, workspace=workspace)
    items = Item.objects.filter(workspace=workspace).order_by("name", "external_id")
    if search:
        items = items.filter(
            Q(name__icontains=search) | Q(external_id__icontains=search) | Q(category__icontains=search)
        )
    return items


def items_similar(*, item: Item, limit: int = 10) -> list[tuple[Item, float]]:
    """Nearest items by cosine similarity of their embeddings (HNSW index)."""
    if item.embedding is None:
        return []
    found = (
        Item.objects.filter(workspace_id=item.workspace_id, embedding__isnull=False)
        .exclude(pk=item.pk)
        .annotate(distance=CosineDistance("embedding", item.embedding))
        .order_by("distance")[:limit]
    )
    return [(other, round(1.0 - float(other.distance), 4)) for other in found]


def profile_embedding(*, profile: Profile) -> ProfileEmbedding | None:
    return ProfileEmbedding.objects.filter(profile=profile).first()


def profiles_similar(*, profile: Profile, limit: int = 10) -> list[tuple[Profile, float]]:
    """People with the nearest taste vectors (merged-away profiles have none)."""
    own = profile_embedding(profile=profile)
    if own is None:
        return []
    found = (
        ProfileEmbedding.objects.filter(workspace_id=profile.workspace_id)
        .exclude(profile_id=profile.pk)
        .annotate(distance=CosineDistance("vector", own.vector))
        .select_related("profile")
        .order_by("distance")[:limit]
    )
    return [(row.profile, round(1.0 - float(row.distance), 4)) for row in found]


def items_recommended(*, profile: Profile, limit: int = 10, include_engaged: bool = False) -> list[tuple[Item, float]]:
    """Items nearest to the person's taste vector, by default leaving out what they already engaged with."""
    own = profile_embedding(profile=profile)
    if own is None:
        return []
    items = Item.objects.filter(workspace_id=profile.workspace_id, embedding__isnull=False)
    if not include_engaged:
        engaged = ItemEngagement.objects.filter(profile=profile).values("item_id")
        items = items.exclude(id__in=engaged)
    found = items.annotate(distance=CosineDistance("embedding", own.vector)).order_by("distance")[:limit]
    return [(item, round(1.0 - float(item.distance), 4)) for item in found]


def profile_search(*, actor: Actor, workspace: Workspace, query: str = "") -> QuerySet[Profile]:
    """Live people, newest first; ``query`` matches any identifier exactly (email, user id,
    anonymous id, phone, ...) or a name/email trait partially."""
    workspace_require(actor=actor, workspace=workspace)
    people = Profile.objects.filter(workspace=workspace, merged_into__isnull=True)
    if query:
        by_identifier = Identifier.objects.filter(workspace=workspace, value=query).values("profile_id")
        people = people.filter(
            Q(id__in=by_identifier)
            | Q(traits__email__icontains=query)
            | Q(traits__name__icontains=query)
            | Q(traits__first_name__icontains=query)
            | Q(traits__last_name__icontains=query)
        )
    return people.order_by("-created_at")


def identifiers_suppressed(workspace_id: UUID | str, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (kind, normalised value) keys that belong to erased people (subject erasure), so
    ingestion drops events carrying them. One indexed query however many keys are asked."""
    from profiles.models import SuppressedIdentifier
    from profiles.privacy import identifier_digest

    by_digest: dict[tuple[str, str], tuple[str, str]] = {}
    for kind, value in keys:
        by_digest[(kind, identifier_digest(workspace_id=workspace_id, kind=kind, value=value))] = (kind, value)
    if not by_digest:
        return set()
    found = SuppressedIdentifier.objects.filter(
        workspace_id=workspace_id, digest__in=[digest for _, digest in by_digest]
    ).values_list("kind", "digest")
    return {by_digest[(kind, digest)] for kind, digest in found if (kind, digest) in by_digest}


def profile_get_for_subject_rights(*, actor: Actor, workspace: Workspace, profile_id: UUID | str) -> Profile:
    """Export and erasure are for owners and admins (who manage members) and secret keys."""
    from accounts.roles import MANAGE_MEMBERS

    profile = profile_get(actor=actor, workspace=workspace, profile_id=profile_id)
    workspace_require(actor=actor, workspace=workspace, codename=MANAGE_MEMBERS)
    return profile


# --- console: customer 360 ----------------------------------------------------------------------------------------

TRAIT_KEY_MAX = 64


def _search_terms(query: str) -> Func:
    """The words of a partial search as the index splits them (migration 0005)."""
    return Func(Value(query), function="profile_search_terms", output_field=ArrayField(TextField()))


def customer_search(*, actor: Actor, workspace: Workspace, query: str = "") -> QuerySet[Profile]:
    """The customer list's search, newest first.

    - ``name=value`` (or ``name:value``) matches a trait exactly (``plan=gold``, ``age=41``);
    - otherwise an identifier matching exactly (email and phone also in their stored form, so
      ``Ana@Example.COM`` finds ana@example.com) answers alone, from the identifier index;
    - and only when no identifier matches, the people each of whose words starts a word of their
      email or name (``ana sil`` finds Ana Silva, ``acme`` everyone at acme.com), from the
      word-prefix index ``profile_search`` (docs/console.md).
    """
    workspace_require(actor=actor, workspace=workspace)
    people = Profile.objects.filter(workspace=workspace, merged_into__isnull=True)
    if not query:
        return people.order_by("-created_at")
    for separator in ("=", ":"):
        name, sep, value = query.partition(separator)
        name, value = name.strip(), value.strip()
        if sep and name and value and len(name) <= TRAIT_KEY_MAX and " " not in name and "@" not in name:
            candidates: list[Any] = [value]
            if value.lstrip("-").replace(".", "", 1).isdigit():
                candidates.append(float(value) if "." in value else int(value))
            if value.lower() in {"true", "false"}:
                candidates.append(value.lower() == "true")
            match = Q()
            for candidate in candidates:
                match |= Q(traits__contains={name: candidate})
            return people.filter(match).order_by("-created_at")
    values = {query} | {normalise(kind, query) for kind in (IdentifierKind.EMAIL, IdentifierKind.PHONE)} - {None}
    owners = list(
        Identifier.objects.filter(workspace=workspace, value__in=values).values_list("profile_id", flat=True)[:100]
    )
    if owners:
        return people.filter(id__in=owners).order_by("-created_at")
    if not any(character.isalnum() for character in query):
        return people.none()  # no word to look for
    return people.alias(words=search_prefixes()).filter(words__contains=_search_terms(query)).order_by("-created_at")


def profile_merge_history(*, profile: Profile) -> QuerySet[Profile]:
    """The profiles that were merged into this one (their identifiers and history now live here)."""
    return Profile.objects.filter(workspace_id=profile.workspace_id, merged_into=profile).order_by("-merged_at")
