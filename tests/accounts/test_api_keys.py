from __future__ import annotations

import pytest

from accounts.models import SecretKey
from audit.models import AuditEntry
from tests.factories import make_secret_key


@pytest.mark.django_db
def test_secret_key_is_shown_once_and_stored_hashed(api_client, workspace, secret_key) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
    response = api_client.post("/api/v1/keys/", {"name": "backend"}, format="json")
    assert response.status_code == 201
    plaintext = response.json()["key"]
    prefix = response.json()["prefix"]
    stored = SecretKey.objects.get(prefix=prefix)
    assert plaintext not in stored.hashed_key and plaintext.split(".")[1] not in stored.id
    assert stored.hashed_key.startswith("sha512$$")
    listing = api_client.get("/api/v1/keys/").json()
    assert listing["count"] == 2
    assert all("key" not in item for item in listing["results"]), "the plaintext is never listed again"


@pytest.mark.django_db
def test_the_new_key_authenticates_and_revocation_is_immediate(api_client, workspace, secret_key) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
    created = api_client.post("/api/v1/keys/", {"name": "temp"}, format="json").json()
    other = APIClientWith(created["key"])
    assert other.get("/api/v1/workspace/").status_code == 200
    revoked = api_client.post(f"/api/v1/keys/{created['prefix']}/revoke/", {"reason": "leaked"}, format="json")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    response = other.get("/api/v1/workspace/")
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "authentication_failed", "message": "This secret key was revoked."}}


def APIClientWith(key: str):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.mark.django_db
def test_key_creation_and_revocation_are_audited(api_client, workspace, secret_key) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
    prefix = api_client.post("/api/v1/keys/", {"name": "x"}, format="json").json()["prefix"]
    api_client.post(f"/api/v1/keys/{prefix}/revoke/", {"reason": "rotated"}, format="json")
    entries = AuditEntry.objects.filter(workspace=workspace, target_id=prefix).order_by("seq")
    assert [e.action for e in entries] == ["secret_key.created", "secret_key.revoked"]
    assert entries[1].reason == "rotated"
    assert entries[0].actor_label == f"key:{secret_key.split('.')[0]}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Authentication credentials were not provided."),
        ("Bearer ", "Authorization header has no key after 'Bearer'."),
        ("Bearer nope.nope", "Unknown secret key."),
        ("Bearer {prefix}.wrongsecret", "Unknown secret key."),
    ],
)
def test_wrong_api_key_is_401_with_a_json_reason(api_client, workspace, secret_key, header, message) -> None:
    if header:
        api_client.credentials(HTTP_AUTHORIZATION=header.format(prefix=secret_key.split(".")[0]))
    response = api_client.get("/api/v1/workspace/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["error"]["message"] == message


@pytest.mark.django_db
def test_foreign_workspace_key_is_404(api_client, personas) -> None:
    mine = make_secret_key(workspace=personas.workspace)
    theirs_prefix = make_secret_key(workspace=personas.other_workspace).split(".")[0]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {mine}")
    response = api_client.post(f"/api/v1/keys/{theirs_prefix}/revoke/", {}, format="json")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
    assert not SecretKey.objects.get(prefix=theirs_prefix).revoked


@pytest.mark.django_db
def test_list_never_shows_foreign_keys(api_client, personas) -> None:
    mine = make_secret_key(workspace=personas.workspace, name="mine")
    make_secret_key(workspace=personas.other_workspace, name="theirs")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {mine}")
    names = [k["name"] for k in api_client.get("/api/v1/keys/").json()["results"]]
    assert names == ["mine"]


@pytest.mark.django_db
def test_create_key_validation_errors_name_the_field(api_client, secret_key) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
    response = api_client.post("/api/v1/keys/", {"name": ""}, format="json")
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid"
    assert "name" in body["fields"]


@pytest.mark.django_db
def test_create_key_ignores_workspace_and_id_from_the_client(api_client, personas) -> None:
    mine = make_secret_key(workspace=personas.workspace)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {mine}")
    response = api_client.post(
        "/api/v1/keys/",
        {"name": "sneaky", "workspace": str(personas.other_workspace.id), "id": "x", "prefix": "AAAAAAAA"},
        format="json",
    )
    assert response.status_code == 201
    key = SecretKey.objects.get(prefix=response.json()["prefix"])
    assert key.workspace_id == personas.workspace.id
    assert key.prefix != "AAAAAAAA"


@pytest.mark.django_db
def test_session_ui_creates_key_shows_it_once_and_revokes(client, personas) -> None:
    client.force_login(personas.owner)
    response = client.post("/accounts/settings/keys/create/", {"name": "ui key"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "will not be shown again" in html
    key = SecretKey.objects.get(workspace=personas.workspace, name="ui key")
    assert key.prefix in html
    page = client.get("/accounts/settings/keys/").content.decode()
    assert "will not be shown again" not in page
    response = client.post(f"/accounts/settings/keys/{key.prefix}/revoke/", {"reason": "test"})
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked


@pytest.mark.django_db
def test_session_ui_shows_form_error_for_blank_name(client, personas) -> None:
    client.force_login(personas.owner)
    response = client.post("/accounts/settings/keys/create/", {"name": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
