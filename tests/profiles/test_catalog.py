"""Item catalog and embeddings: product events feed items and engagements; vectors give
similar items, similar customers and recommendations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from events.models import Event
from events.services import event_engagements_apply
from profiles.catalog import Engagement, catalog_embeddings_refresh, engagements_record, items_upsert, product_refs
from profiles.models import Item, ItemEngagement, ProfileEmbedding
from profiles.selectors import items_recommended, items_similar, profile_by_identifier, profiles_similar

SHOES = [
    ("SKU-TR1", "Trail running shoe waterproof", "shoes"),
    ("SKU-TR2", "Trail running shoe lightweight", "shoes"),
    ("SKU-RD1", "Road running shoe cushioned", "shoes"),
]
COFFEE = [
    ("SKU-ES1", "Espresso coffee beans dark roast", "coffee"),
    ("SKU-FL1", "Filter coffee beans light roast", "coffee"),
    ("SKU-MUG", "Ceramic coffee mug", "coffee"),
]


def _view(tracker, user: str, sku: str, name: str, category: str, event: str = "Product Viewed") -> None:
    response = tracker.post(
        "/v1/track",
        {
            "userId": user,
            "event": event,
            "messageId": str(uuid.uuid4()),
            "properties": {"product_id": sku, "name": name, "category": category},
        },
    )
    assert response.status_code == 200, response.content


def _feed(workspace) -> None:
    ids = [str(i) for i in Event.objects.filter(workspace=workspace).values_list("id", flat=True)]
    event_engagements_apply(workspace_id=str(workspace.id), event_ids=ids)


def _person(workspace, user: str):
    profile = profile_by_identifier(workspace=workspace, kind="user_id", value=user)
    assert profile is not None
    return profile


@pytest.fixture
def shopped(workspace, tracker):
    """Two shoe people, one coffee person; the catalog fitted."""
    for sku, name, category in SHOES[:2]:
        _view(tracker, "runner-1", sku, name, category)
    for sku, name, category in SHOES[1:]:
        _view(tracker, "runner-2", sku, name, category)
    for sku, name, category in COFFEE:
        _view(tracker, "barista", sku, name, category)
    _view(tracker, "barista", "SKU-ES1", "Espresso coffee beans dark roast", "coffee", event="Order Completed")
    _feed(workspace)
    catalog_embeddings_refresh(workspace=workspace)
    return workspace


@pytest.mark.django_db
def test_product_events_create_items_and_engagements(shopped) -> None:
    assert Item.objects.filter(workspace=shopped).count() == 6
    assert Item.objects.filter(workspace=shopped, embedding__isnull=True).count() == 0
    barista = _person(shopped, "barista")
    weights = dict(ItemEngagement.objects.filter(profile=barista).values_list("item__external_id", "weight"))
    assert weights["SKU-ES1"] == pytest.approx(6.0, rel=1e-3)  # a view (1) and an order (5)
    assert weights["SKU-MUG"] == pytest.approx(1.0, rel=1e-3)
    assert ProfileEmbedding.objects.filter(workspace=shopped).count() == 3


@pytest.mark.django_db
def test_feeding_the_same_events_twice_changes_nothing(shopped) -> None:
    before = sorted(ItemEngagement.objects.values_list("weight", flat=True))
    _feed(shopped)
    assert sorted(ItemEngagement.objects.values_list("weight", flat=True)) == before


@pytest.mark.django_db
def test_similar_items_and_people_and_recommendations(shopped) -> None:
    trail = Item.objects.get(workspace=shopped, external_id="SKU-TR1")
    similar = [item.external_id for item, _ in items_similar(item=trail, limit=2)]
    assert set(similar) <= {"SKU-TR2", "SKU-RD1"}

    runner = _person(shopped, "runner-1")
    people = profiles_similar(profile=runner, limit=2)
    assert people[0][0] == _person(shopped, "runner-2")
    assert people[0][1] > people[1][1]

    recommended = [item.external_id for item, _ in items_recommended(profile=runner, limit=1)]
    assert recommended == ["SKU-RD1"]  # the shoe they have not seen, not coffee


def test_product_refs_read_single_products_and_order_lines() -> None:
    assert product_refs({"sku": "A", "name": "x"})[0]["external_id"] == "A"
    order = {"products": [{"product_id": "A"}, {"sku": "B", "price": 3}, {"name": "no id"}, "junk"]}
    assert [p["external_id"] for p in product_refs(order)] == ["A", "B"]
    assert product_refs({"product_id": True}) == []


@pytest.mark.django_db
def test_engagement_weights_decay_with_the_half_life(workspace, settings) -> None:
    settings.PROFILE_AFFINITY_HALF_LIFE_DAYS = 7
    from profiles.models import Profile

    profile = Profile.objects.create(workspace=workspace)
    items_upsert(workspace=workspace, products=[{"external_id": "X"}])
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    engagements_record(workspace=workspace, engagements=[Engagement(profile.id, "X", 4.0, t0)])
    engagements_record(workspace=workspace, engagements=[Engagement(profile.id, "X", 1.0, t0 + timedelta(days=7))])
    row = ItemEngagement.objects.get(profile=profile)
    assert row.weight == pytest.approx(3.0)  # 4 halved a week later, plus 1
    # an older event arriving late is decayed to the newest time, not added at full weight
    engagements_record(workspace=workspace, engagements=[Engagement(profile.id, "X", 2.0, t0)])
    row.refresh_from_db()
    assert row.weight == pytest.approx(4.0)
    assert row.last_at == t0 + timedelta(days=7)


@pytest.mark.django_db
def test_import_api_needs_catalog_rights_and_fills_the_catalog(api_client, personas) -> None:
    from accounts.roles import Role

    viewer = personas.member(Role.VIEWER)
    api_client.force_authenticate(viewer)
    body = {"items": [{"id": "SKU-1", "name": "Trail runner", "category": "shoes", "price": "89.00"}]}
    assert api_client.post("/api/v1/items/", body, format="json").status_code == 403
    api_client.force_authenticate(personas.owner)
    response = api_client.post("/api/v1/items/", body, format="json")
    assert response.status_code == 200
    assert response.json() == {"received": 1, "created": 1}
    listed = api_client.get("/api/v1/items/?search=trail").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == "SKU-1"
    bad = api_client.post("/api/v1/items/", {"items": [{"name": "no id"}]}, format="json")
    assert bad.status_code == 400 and "items" in bad.json()["error"]["fields"]
    api_client.force_authenticate(personas.outsider)
    assert api_client.get("/api/v1/items/SKU-1/similar/").status_code == 404
