"""Endpoints and deliveries over the API and the pages, for every persona; audit of changes;
the person's deliveries in export and erasure."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from audit.models import AuditEntry
from delivery.models import Delivery, DeliveryStatus, WebhookEndpoint
from delivery.services import delivery_enqueue, endpoint_save
from profiles.subject_rights import subject_data_erase, subject_data_export
from tests.factories import make_secret_key


def _bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


@pytest.mark.django_db
def test_creating_an_endpoint_returns_its_secret_once_and_audits_without_it(api_client, workspace, secret_key) -> None:
    response = api_client.post(
        "/api/v1/webhook-endpoints/",
        {"key": "erp", "url": "https://erp.example.com/hooks", "event_types": ["cart.hold"]},
        format="json",
        **_bearer(secret_key),
    )
    assert response.status_code == 201, response.content
    assert response.json()["secret"].startswith("whsec_")
    listed = api_client.get("/api/v1/webhook-endpoints/", **_bearer(secret_key)).json()
    assert listed["results"][0]["key"] == "erp" and "secret" not in listed["results"][0]
    entry = AuditEntry.objects.get(action="webhook_endpoint.created")
    assert entry.after is not None and entry.target_id == "erp"
    assert "secret" not in entry.after and entry.after["secret_rotated"] is True
    bad = api_client.post(
        "/api/v1/webhook-endpoints/", {"key": "erp", "url": "ftp://nope"}, format="json", **_bearer(secret_key)
    )
    assert bad.status_code == 400 and "url" in bad.json()["error"]["fields"]
    duplicate = api_client.post(
        "/api/v1/webhook-endpoints/",
        {"key": "erp", "url": "https://x.example.com"},
        format="json",
        **_bearer(secret_key),
    )
    assert duplicate.status_code == 400 and "key" in duplicate.json()["error"]["fields"]


@pytest.mark.django_db
def test_endpoints_are_only_for_key_managers_and_foreign_ones_are_404(client, personas) -> None:
    endpoint_save(
        workspace=personas.other_workspace, actor=None, values={"key": "theirs", "url": "https://g.example.com"}
    )
    endpoint_save(workspace=personas.workspace, actor=None, values={"key": "ours", "url": "https://a.example.com"})
    cases = [
        (personas.owner, "/delivery/webhooks/", 200),
        (personas.member(Role.MARKETER), "/delivery/webhooks/", 403),
        (personas.member(Role.VIEWER), "/delivery/webhooks/ours/", 403),
        (personas.owner, "/delivery/webhooks/theirs/", 404),
        (personas.outsider, "/delivery/webhooks/ours/", 404),
    ]
    for user, url, expected in cases:
        client.force_login(user)
        assert client.get(url).status_code == expected, (user, url)


@pytest.mark.django_db
def test_the_endpoint_form_shows_errors_inline_and_the_secret_once(client, personas) -> None:
    client.force_login(personas.owner)
    bad = client.post("/delivery/webhooks/new/", {"key": "erp", "url": "not a url"})
    assert bad.status_code == 400 and b'data-field-error="url"' in bad.content
    good = client.post("/delivery/webhooks/new/", {"key": "erp", "url": "https://erp.example.com/h", "enabled": "on"})
    endpoint = WebhookEndpoint.objects.get(workspace=personas.workspace, key="erp")
    assert good.status_code == 200 and endpoint.secret.encode() in good.content
    edit = client.get("/delivery/webhooks/erp/")
    assert edit.status_code == 200 and endpoint.secret.encode() not in edit.content


@pytest.mark.django_db
def test_dead_letters_are_listed_and_retried_by_marketers_not_viewers(client, api_client, personas) -> None:
    workspace = personas.workspace
    endpoint, _ = endpoint_save(
        workspace=workspace, actor=None, values={"key": "erp", "url": "https://erp.example.com"}
    )
    delivery = delivery_enqueue(workspace=workspace, key="k1", channel="webhook", endpoint=endpoint, payload={"a": 1})
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.DEAD, attempt_count=5, last_error="HTTP 500")
    client.force_login(personas.member(Role.VIEWER))
    page = client.get("/delivery/dead-letter/")
    assert page.status_code == 200 and b"k1" in page.content and b"retry-button" not in page.content
    assert client.post(f"/delivery/{delivery.id}/retry/").status_code == 403
    client.force_login(personas.member(Role.MARKETER))
    response = client.post(f"/delivery/{delivery.id}/retry/", {"next": "https://evil.example.com/"})
    assert response.status_code == 302 and response["Location"] == "/delivery/dead-letter/"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.max_attempts == 10
    assert AuditEntry.objects.filter(action="delivery.retried", target_id=str(delivery.id)).exists()
    key = make_secret_key(workspace=personas.other_workspace)
    assert api_client.get(f"/api/v1/deliveries/{delivery.id}/", **_bearer(key)).status_code == 404
    own = make_secret_key(workspace=workspace)
    detail = api_client.get(f"/api/v1/deliveries/{delivery.id}/", **_bearer(own)).json()
    assert detail["status"] == "pending" and detail["attempts"] == []
    again = api_client.post(f"/api/v1/deliveries/{delivery.id}/retry/", **_bearer(own))
    assert again.status_code == 400  # only dead or blocked deliveries can be retried


@pytest.mark.django_db
def test_the_deliveries_page_filters_and_the_api_lists(client, api_client, shop, secret_key) -> None:
    from tests.decisions.conftest import person

    ana = person(shop, "ana")
    delivery_enqueue(workspace=shop, key="in-app-1", channel="in_app", profile=ana, body="Hello")
    delivery_enqueue(workspace=shop, key="mail-1", channel="email", profile=ana, body="Hi")  # no address: blocked
    client.force_login(shop.memberships.get(role="owner").user)
    page = client.get("/delivery/?status=blocked")
    assert b"mail-1" in page.content and b"in-app-1" not in page.content
    listed = api_client.get("/api/v1/deliveries/?channel=in_app", **_bearer(secret_key)).json()
    assert [d["key"] for d in listed["results"]] == ["in-app-1"]


@pytest.mark.django_db
def test_a_persons_deliveries_are_exported_and_erased(shop) -> None:
    from tests.decisions.conftest import person

    ana = person(shop, "ana")
    delivery_enqueue(workspace=shop, key="in-app-2", channel="in_app", profile=ana, body="Hello Ana")
    exported = subject_data_export(workspace=shop, profile_ids=[ana.id])
    assert [d["body"] for d in exported["delivery.deliveries"]] == ["Hello Ana"]
    erased = subject_data_erase(workspace=shop, profile_ids=[ana.id], identifiers=[("user_id", "ana")])
    assert erased["delivery.deliveries"] >= 1
    assert not Delivery.objects.filter(workspace=shop).exists()
