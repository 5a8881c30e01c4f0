"""Writes for the item catalog and embeddings (reads are in profiles.selectors).

- Items come from track events carrying product properties and from the import API.
- Each engagement adds to a (person, item) weight that halves every
  ``PROFILE_AFFINITY_HALF_LIFE_DAYS`` (the same half-life as category affinity).
- A person's vector is the weighted sum of the vectors of the items they engaged with, with
  weights decayed to now; it is recomputed when their engagements change.
- Item vectors are refit from the whole catalog (text + co-occurrence, profiles.encoders) by
  ``catalog_embeddings_refresh``, run in Celery after new items appear and on a schedule.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from profiles.encoders import item_vectors
from profiles.models import Item, ItemEngagement, ProfileEmbedding

PRODUCT_ID_KEYS = ("product_id", "sku", "id")
TEXT_LIMIT = 255


@dataclass(frozen=True)
class Engagement:
    profile_id: UUID
    external_id: str
    weight: float
    at: datetime


@dataclass(frozen=True)
class CatalogRefresh:
    items: int
    profiles: int


def _half_life_seconds() -> float:
    return float(settings.PROFILE_AFFINITY_HALF_LIFE_DAYS) * 86400.0


def _decay(weight: float, *, since: datetime, until: datetime) -> float:
    seconds = (until - since).total_seconds()
    return weight * math.pow(0.5, seconds / _half_life_seconds()) if seconds > 0 else weight


def _text(value: Any) -> str:
    return str(value)[:TEXT_LIMIT] if isinstance(value, str | int | float) and not isinstance(value, bool) else ""


def product_refs(properties: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The products a track event is about: ``properties.products[]`` (orders, lists) or the
    event's own properties (Product Viewed / Added). Items without an id are skipped."""
    candidates: list[Any] = []
    products = properties.get("products")
    if isinstance(products, list):
        candidates.extend(products[:100])
    else:
        candidates.append(properties)
    refs = []
    for product in candidates:
        if not isinstance(product, Mapping):
            continue
        external_id = next((_text(product.get(k)) for k in PRODUCT_ID_KEYS if _text(product.get(k))), "")
        if external_id:
            refs.append(
                {
                    "external_id": external_id,
                    **{k: product.get(k) for k in ("name", "category", "brand", "description", "price")},
                }
            )
    return refs


def _price(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        price = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None
    return price if price.is_finite() and abs(price) < Decimal("1e10") else None


@transaction.atomic
def items_upsert(*, workspace: Workspace, products: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Item], int]:
    """Create unknown items and fill in fields the catalog did not have; returns (items by
    external id, number created). Existing non-empty fields are kept: the import API, not a
    passing event, is the authority on a product's description."""
    merged: dict[str, dict[str, Any]] = {}
    for product in products:
        entry = merged.setdefault(product["external_id"], {})
        for key in ("name", "category", "brand", "description", "price"):
            if product.get(key) not in (None, "") and key not in entry:
                entry[key] = product[key]
    existing = {
        i.external_id: i
        for i in Item.objects.select_for_update().filter(workspace=workspace, external_id__in=list(merged))
    }
    to_create, to_update = [], []
    for external_id, fields in merged.items():
        item = existing.get(external_id)
        values = {
            "name": _text(fields.get("name")),
            "category": _text(fields.get("category")),
            "brand": _text(fields.get("brand")),
            "description": str(fields.get("description") or "")[:5000],
            "price": _price(fields.get("price")),
        }
        if item is None:
            to_create.append(Item(workspace=workspace, external_id=external_id, **values))
            continue
        changed = False
        for key, value in values.items():
            if value not in (None, "") and getattr(item, key) in (None, ""):
                setattr(item, key, value)
                changed = True
        if changed:
            to_update.append(item)
    if to_create:
        Item.objects.bulk_create(to_create, ignore_conflicts=True)
    if to_update:
        Item.objects.bulk_update(to_update, ["name", "category", "brand", "description", "price", "updated_at"])
    items = {i.external_id: i for i in Item.objects.filter(workspace=workspace, external_id__in=list(merged))}
    return items, len(to_create)


@transaction.atomic
def engagements_record(*, workspace: Workspace, engagements: Sequence[Engagement]) -> set[UUID]:
    """Add engagements to the (person, item) weights; returns the people whose vectors changed."""
    if not engagements:
        return set()
    items = {
        i.external_id: i
        for i in Item.objects.filter(workspace=workspace, external_id__in={e.external_id for e in engagements})
    }
    profile_ids = sorted({e.profile_id for e in engagements})
    rows = list(ItemEngagement.objects.select_for_update().filter(workspace=workspace, profile_id__in=profile_ids))
    by_key: dict[tuple[UUID, UUID], ItemEngagement] = {}
    for row in rows:
        by_key.setdefault((row.profile_id, row.item_id), row)
    created: dict[tuple[UUID, UUID], ItemEngagement] = {}
    changed: set[ItemEngagement] = set()
    for engagement in sorted(engagements, key=lambda e: e.at):
        item = items.get(engagement.external_id)
        if item is None:
            continue
        key = (engagement.profile_id, item.id)
        found = by_key.get(key) or created.get(key)
        if found is None:
            created[key] = ItemEngagement(
                workspace=workspace,
                profile_id=engagement.profile_id,
                item=item,
                weight=engagement.weight,
                last_at=engagement.at,
            )
            continue
        row = found
        latest = max(row.last_at, engagement.at)
        row.weight = _decay(row.weight, since=row.last_at, until=latest) + _decay(
            engagement.weight, since=engagement.at, until=latest
        )
        row.last_at = latest
        if row.pk:
            changed.add(row)
    if created:
        ItemEngagement.objects.bulk_create(list(created.values()))
    if changed:
        ItemEngagement.objects.bulk_update(list(changed), ["weight", "last_at"])
    return {e.profile_id for e in engagements if e.external_id in items}


def _profile_vectors(workspace: Workspace, profile_ids: Iterable[UUID], now: datetime) -> dict[UUID, np.ndarray]:
    sums: dict[UUID, np.ndarray] = {}
    rows = (
        ItemEngagement.objects.filter(
            workspace=workspace, profile_id__in=list(profile_ids), item__embedding__isnull=False
        )
        .values_list("profile_id", "weight", "last_at", "item__embedding")
        .iterator(chunk_size=2000)
    )
    for profile_id, weight, last_at, embedding in rows:
        vector = np.asarray(embedding, dtype=np.float32) * _decay(weight, since=last_at, until=now)
        sums[profile_id] = sums[profile_id] + vector if profile_id in sums else vector
    return sums


@transaction.atomic
def profile_embeddings_refresh(*, workspace: Workspace, profile_ids: Iterable[UUID]) -> int:
    """Recompute the vectors of these people from their engagements; returns how many exist."""
    ids = sorted(set(profile_ids))
    if not ids:
        return 0
    now = timezone.now()
    vectors = _profile_vectors(workspace, ids, now)
    ProfileEmbedding.objects.filter(profile_id__in=[i for i in ids if i not in vectors]).delete()
    usable = {pid: v for pid, v in vectors.items() if float(np.linalg.norm(v)) > 1e-12}
    ProfileEmbedding.objects.bulk_create(
        [
            ProfileEmbedding(profile_id=pid, workspace=workspace, vector=v.tolist(), updated_at=now)
            for pid, v in usable.items()
        ],
        update_conflicts=True,
        unique_fields=["profile"],
        update_fields=["vector", "updated_at"],
    )
    return len(usable)


def catalog_embeddings_refresh(*, workspace: Workspace, seed: int = 0) -> CatalogRefresh:
    """Refit every item's vector from the whole catalog, then every engaged person's vector."""
    items = list(Item.objects.filter(workspace=workspace).order_by("created_at", "id"))
    if not items:
        return CatalogRefresh(items=0, profiles=0)
    index = {item.id: i for i, item in enumerate(items)}
    histories: dict[UUID, list[int]] = defaultdict(list)
    for profile_id, item_id in ItemEngagement.objects.filter(workspace=workspace).values_list("profile_id", "item_id"):
        histories[profile_id].append(index[item_id])
    vectors = item_vectors([item.text for item in items], list(histories.values()), seed=seed)
    now = timezone.now()
    for item, vector in zip(items, vectors, strict=True):
        item.embedding = vector.tolist()
        item.embedded_at = now
    with transaction.atomic():
        Item.objects.bulk_update(items, ["embedding", "embedded_at"], batch_size=1000)
    people = list(histories)
    refreshed = 0
    for start in range(0, len(people), 2000):
        refreshed += profile_embeddings_refresh(workspace=workspace, profile_ids=people[start : start + 2000])
    return CatalogRefresh(items=len(items), profiles=refreshed)


def profile_embedding_merge(*, workspace: Workspace, survivor_id: UUID, merged_ids: Sequence[UUID]) -> None:
    """After a merge the engagements already follow the survivor; rebuild its vector and drop
    the merged-away ones'."""
    with transaction.atomic():
        ProfileEmbedding.objects.filter(profile_id__in=list(merged_ids)).delete()
        profile_embeddings_refresh(workspace=workspace, profile_ids=[survivor_id])


def items_import(*, workspace: Workspace, products: Sequence[Mapping[str, Any]], actor: Any) -> int:
    """Import API: upsert items (import values win over what events said), audit, refit soon."""
    from audit.services import audit_record
    from profiles.tasks import catalog_embeddings_refresh_soon

    with transaction.atomic():
        _, created = items_upsert(workspace=workspace, products=products)
        # The import is the authority on descriptive fields: overwrite what events filled in.
        by_id = {p["external_id"]: p for p in products}
        items = list(Item.objects.filter(workspace=workspace, external_id__in=list(by_id)))
        for item in items:
            product = by_id[item.external_id]
            for key in ("name", "category", "brand", "description"):
                if product.get(key):
                    setattr(item, key, _text(product[key]) if key != "description" else str(product[key])[:5000])
            if product.get("price") is not None:
                item.price = _price(product["price"])
        Item.objects.bulk_update(items, ["name", "category", "brand", "description", "price", "updated_at"])
        audit_record(
            workspace=workspace,
            actor=actor,
            action="catalog.imported",
            target_type="Item",
            after={"received": len(products), "created": created},
        )
        transaction.on_commit(lambda: catalog_embeddings_refresh_soon(str(workspace.id)))
    return created
