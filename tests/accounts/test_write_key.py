from __future__ import annotations

import base64

import pytest
from django.test import RequestFactory
from rest_framework import exceptions

from accounts.authentication import write_key_authenticate, write_key_from_request
from accounts.selectors import write_key_active
from accounts.services import write_key_rotate


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
    with pytest.raises(exceptions.NotAuthenticated):
        write_key_authenticate(request, {})
    with pytest.raises(exceptions.AuthenticationFailed):
        write_key_authenticate(request, {"writeKey": "wk_unknown"})


def test_malformed_basic_header_is_no_key() -> None:
    request = RequestFactory().post("/v1/track", HTTP_AUTHORIZATION="Basic !!!notbase64")
    assert write_key_from_request(request, {}) is None


@pytest.mark.django_db
def test_rotated_write_key_stops_working_and_is_audited(workspace) -> None:
    old = _key(workspace)
    new = write_key_rotate(workspace=workspace, actor=None)
    request = RequestFactory().post("/v1/track")
    with pytest.raises(exceptions.AuthenticationFailed):
        write_key_authenticate(request, {"writeKey": old})
    assert write_key_authenticate(request, {"writeKey": new.key}) == workspace
    from audit.models import AuditEntry

    assert AuditEntry.objects.filter(workspace=workspace, action="write_key.rotated").count() == 1
