from __future__ import annotations

import base64

import pytest
from django.test import RequestFactory

from accounts.authentication import write_key_from_request
from accounts.selectors import write_key_active
from accounts.services import write_key_rotate
from events.selectors import tracking_caller


def write_key_authenticate(request, body):
    """What the tracking API does with a request: the key it carries, then the key's workspace."""
    key = write_key_from_request(request, body)
    caller = tracking_caller(write_key=key) if key else None
    return caller.workspace if caller else None


def _key(workspace) -> str:
    found = write_key_active(workspace=workspace)
    assert found is not None
    return found.key


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


@pytest.mark.django_db
def test_write_key_as_basic_username_segment_style(workspace) -> None:
    key = _key(workspace)
    request = RequestFactory().post("/v1/track", HTTP_AUTHORIZATION=_basic(key))
    assert write_key_authenticate(request, {}) == workspace


@pytest.mark.django_db
def test_write_key_in_body(workspace) -> None:
    key = _key(workspace)
    request = RequestFactory().post("/v1/track")
    assert write_key_authenticate(request, {"writeKey": key}) == workspace


@pytest.mark.django_db
def test_missing_and_unknown_write_keys_are_refused(workspace) -> None:
    request = RequestFactory().post("/v1/track")
    assert write_key_from_request(request, {}) is None
    assert write_key_authenticate(request, {"writeKey": "wk_unknown"}) is None


def test_malformed_basic_header_is_no_key() -> None:
    request = RequestFactory().post("/v1/track", HTTP_AUTHORIZATION="Basic !!!notbase64")
    assert write_key_from_request(request, {}) is None


@pytest.mark.django_db
def test_rotated_write_key_stops_working_and_is_audited(workspace) -> None:
    old = _key(workspace)
    new = write_key_rotate(workspace=workspace, actor=None)
    request = RequestFactory().post("/v1/track")
    assert write_key_authenticate(request, {"writeKey": old}) is None
    assert write_key_authenticate(request, {"writeKey": new.key}) == workspace
    from audit.models import AuditEntry

    assert AuditEntry.objects.filter(workspace=workspace, action="write_key.rotated").count() == 1
