from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from accounts.models import Workspace
from profiles.catalog import catalog_embeddings_refresh
from profiles.models import Item

REFRESH_DEBOUNCE_SECONDS = 30


@shared_task(name="profiles.catalog_embeddings_refresh_task")
def catalog_embeddings_refresh_task(workspace_id: str) -> dict[str, int]:
    cache.delete(f"catalog-refresh:{workspace_id}")
    workspace = Workspace.objects.filter(id=workspace_id).first()
    if workspace is None:
        return {"items": 0, "profiles": 0}
    result = catalog_embeddings_refresh(workspace=workspace)
    return {"items": result.items, "profiles": result.profiles}


def catalog_embeddings_refresh_soon(workspace_id: str) -> None:
    """Refit the catalog once new items have stopped arriving for a moment (one task per burst)."""
    if cache.add(f"catalog-refresh:{workspace_id}", 1, timeout=REFRESH_DEBOUNCE_SECONDS * 4):
        catalog_embeddings_refresh_task.apply_async(args=(workspace_id,), countdown=REFRESH_DEBOUNCE_SECONDS)


@shared_task(name="profiles.catalog_embeddings_schedule_task")
def catalog_embeddings_schedule_task() -> int:
    """Beat: refit catalogs that have items without vectors (e.g. a refresh was lost)."""
    ids = list(Item.objects.filter(embedding__isnull=True).values_list("workspace_id", flat=True).distinct())
    for workspace_id in ids:
        catalog_embeddings_refresh_task.delay(str(workspace_id))
    return len(ids)
