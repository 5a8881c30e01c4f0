"""Subject rights: export everything held about a person; erase them everywhere, keep the audit
trail verifiable, and drop later events for their identifiers."""

from __future__ import annotations

import json
import uuid

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import Client

from accounts.roles import Role
from accounts.selectors import write_key_active
from audit.models import AuditEntry
from audit.verification import audit_verify
from decisions.approvals import approval_edit_and_approve
from decisions.models import Decision
from events.models import Event
from events.selectors import tracking_caller
from profiles.models import Identifier, Profile, ProfileFeatures, SuppressedIdentifier
from profiles.privacy import subject_erase, subject_export
from profiles.selectors import identifiers_suppressed, profile_by_identifier
from profiles.services import profile_consent_set
from tests.factories import make_member
from tests.trust.conftest import propose

EMAIL = "ottoline.q@example.org"
PHONE = "+4915112345678"
USER_ID = "ottoline-7731"
ANON_ID = "anon-5d1f-ottoline"
FIRST_NAME = "Ottoline"
PERSONAL = [EMAIL, PHONE, USER_ID, ANON_ID, FIRST_NAME]


def _post(tracker, path: str, body: dict) -> None:
    response = tracker.post(path, {"messageId": str(uuid.uuid4()), **body})
    assert response.status_code == 200, response.content


@pytest.fixture
def ottoline(queue, tracker, approver):
    """A person known first anonymously, then by user id, email and phone (a merge), with
    events, features, a consent change, an edited approval and audit entries naming her."""
    _post(tracker, "/v1/track", {"anonymousId": ANON_ID, "event": "Product Viewed", "properties": {"sku": "tea-1"}})
    _post(tracker, "/v1/track", {"userId": USER_ID, "event": "Signed In", "properties": {"email": EMAIL}})
    _post(
        tracker,
        "/v1/identify",
        {
            "userId": USER_ID,
            "anonymousId": ANON_ID,
            "traits": {"first_name": FIRST_NAME, "email": EMAIL, "phone": PHONE, "consent": {"email": True}},
        },
    )
    profile = profile_by_identifier(workspace=queue, kind="user_id", value=USER_ID)
    assert profile is not None and Profile.objects.filter(merged_into=profile).exists()  # two profiles merged
    profile_consent_set(profile=profile, changes={"sms": True}, actor=None, reason=f"phoned from {PHONE}")
    decision = propose(queue, USER_ID)
    approval_edit_and_approve(
        workspace=queue,
        decision=decision,
        actor=approver,
        body=f"Dear {FIRST_NAME}, 10% off for you.",
        discount_percent=10,
    )
    return profile


def _rows_mentioning(value: str) -> dict[str, int]:
    """Every table of the database, every row as text: how many rows still contain the value."""
    found = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(
                f'SELECT count(*) FROM "{table}" AS t WHERE t::text ILIKE %s',  # noqa: S608 - table names from the catalog
                [f"%{value}%"],
            )
            count = cursor.fetchone()[0]
            if count:
                found[table] = count
    return found


@pytest.mark.django_db
def test_export_holds_everything_about_the_person(queue, ottoline) -> None:
    owner = queue.memberships.get(role=Role.OWNER).user
    data = subject_export(workspace=queue, profile=ottoline, actor=owner, reason="access request #12")
    sections = data["data"]
    assert {"profiles.golden_record", "events.store", "decisions.log"} <= set(sections)
    golden = sections["profiles.golden_record"]
    assert golden["traits"]["first_name"] == FIRST_NAME and golden["consent"]["sms"]["granted"] is True
    assert {(i["kind"], i["value"]) for i in golden["identifiers"]} >= {
        ("email", EMAIL),
        ("user_id", USER_ID),
        ("anonymous_id", ANON_ID),
    }
    assert len(golden["merged_profile_ids"]) == 1
    names = [e["name"] for e in sections["events.store"]]
    assert "Product Viewed" in names and "Signed In" in names  # the anonymous event too
    decisions = [d for d in sections["decisions.log"] if "id" in d]
    assert decisions[0]["action"] == "winback" and decisions[0]["review"]["result"] == "edited"
    json.dumps(data)  # JSON-safe as a whole
    entry = AuditEntry.objects.get(action="subject.exported")
    assert entry.target_id == str(ottoline.id) and entry.reason == "access request #12"


@pytest.mark.django_db
def test_erasure_leaves_no_trace_in_any_table_and_the_trail_verifies(
    queue, ottoline, django_capture_on_commit_callbacks
) -> None:
    # given the person's values are spread over many tables, and a stored task result names her
    before = {value: _rows_mentioning(value) for value in PERSONAL}
    assert before[EMAIL] and before[USER_ID] and before[FIRST_NAME]
    assert "audit_auditentry" in before[PHONE] or "audit_auditentry" in before[EMAIL]  # audit entries name her
    results = redis.Redis.from_url(settings.CELERY_RESULT_BACKEND)
    results.set("celery-task-meta-test-erasure", json.dumps({"result": {"email": EMAIL}}))
    owner = queue.memberships.get(role=Role.OWNER).user
    decision_ids = list(Decision.objects.filter(profile=ottoline).values_list("id", flat=True))

    # when she is erased
    with django_capture_on_commit_callbacks(execute=True):
        summary = subject_erase(workspace=queue, profile=ottoline, actor=owner, reason=f"request from {EMAIL}")

    # then no table holds any of her values any more
    for value in PERSONAL:
        assert _rows_mentioning(value) == {}, value
    assert results.get("celery-task-meta-test-erasure") is None
    # her decisions remain, anonymised, so aggregates still count them
    assert Decision.objects.filter(id__in=decision_ids).count() == len(decision_ids)
    assert all(d.inputs.get("erased") for d in Decision.objects.filter(id__in=decision_ids))
    assert not Identifier.objects.filter(profile=ottoline).exists()
    assert not ProfileFeatures.objects.filter(profile=ottoline).exists()
    assert not Event.objects.filter(workspace=queue, profile_id=ottoline.id).exists()
    # the audit trail is intact: redacted entries are listed by the erasure's own entry
    erased = AuditEntry.objects.get(action="subject.erased")
    assert (erased.after or {})["redacted_seqs"] == summary["redacted_seqs"] and summary["redacted_seqs"]
    assert erased.reason == "request from [erased]"
    assert audit_verify(chain=str(queue.id))[1] == []
    # and her identifiers are on the suppression list, as hashes only
    assert SuppressedIdentifier.objects.filter(workspace=queue).count() == summary["identifiers_suppressed"] >= 4
    assert identifiers_suppressed(queue.id, [("email", EMAIL), ("user_id", USER_ID), ("user_id", "someone-else")]) == {
        ("email", EMAIL),
        ("user_id", USER_ID),
    }


@pytest.mark.django_db
def test_a_new_event_for_an_erased_person_is_dropped(queue, ottoline, tracker) -> None:
    owner = queue.memberships.get(role=Role.OWNER).user
    subject_erase(workspace=queue, profile=ottoline, actor=owner, reason="request #13")
    events_before = Event.objects.filter(workspace=queue).count()
    # when her storefront session sends another event under her user id
    response = tracker.post(
        "/v1/track", {"userId": USER_ID, "event": "Product Viewed", "messageId": str(uuid.uuid4()), "properties": {}}
    )
    # then it is accepted (the SDK must not retry) but not stored, and she does not come back
    assert response.status_code == 200
    assert Event.objects.filter(workspace=queue).count() == events_before
    assert profile_by_identifier(workspace=queue, kind="user_id", value=USER_ID) is None
    assert _rows_mentioning(USER_ID) == {}


@pytest.mark.django_db
def test_the_tracking_api_looks_up_erased_identifiers_only_in_workspaces_with_erasures(queue, ottoline) -> None:
    key = write_key_active(workspace=queue)
    assert key is not None
    before = tracking_caller(write_key=key.key)
    assert before is not None and before.workspace == queue and before.erasures is False
    subject_erase(workspace=queue, profile=ottoline, actor=None, reason="request #14")
    after = tracking_caller(write_key=key.key)
    assert after is not None and after.erasures is True


@pytest.mark.django_db
def test_privacy_page_and_api_are_for_owners_and_admins(queue, ottoline, personas_for_privacy) -> None:
    admin, marketer, outsider = personas_for_privacy
    page = f"/customers/{ottoline.id}/privacy/"
    as_admin, as_marketer, as_outsider = Client(), Client(), Client()
    as_admin.force_login(admin)
    as_marketer.force_login(marketer)
    as_outsider.force_login(outsider)
    assert as_admin.get(page).status_code == 200 and EMAIL in as_admin.get(page).content.decode()
    assert as_marketer.get(page).status_code == 403
    assert as_outsider.get(page).status_code == 404
    download = as_admin.get(f"{page}export/")
    assert download["Content-Disposition"].startswith("attachment") and EMAIL in download.content.decode()
    assert (
        as_marketer.post(f"/api/v1/profiles/{ottoline.id}/erase/", {"reason": "x", "confirm": True}).status_code == 403
    )
    assert (
        as_outsider.post(f"/api/v1/profiles/{ottoline.id}/erase/", {"reason": "x", "confirm": True}).status_code == 404
    )
    # the form insists on a reason and the confirmation word
    refused = as_admin.post(f"{page}erase/", {"reason": "", "confirm": "no"})
    assert refused.status_code == 400 and "Type “erase” to confirm." in refused.content.decode()
    assert Identifier.objects.filter(profile=ottoline).exists()
    done = as_admin.post(f"{page}erase/", {"reason": "ticket 99", "confirm": "erase"})
    assert done.status_code == 302
    assert not Identifier.objects.filter(profile=ottoline).exists()
    assert AuditEntry.objects.get(action="subject.erased").actor_user == admin


@pytest.mark.django_db
def test_the_api_exports_and_erases_with_a_secret_key(queue, ottoline, api_client) -> None:
    from tests.factories import make_secret_key

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_secret_key(workspace=queue)}")
    exported = api_client.post(f"/api/v1/profiles/{ottoline.id}/export/", {"reason": "dsar 7"}, format="json")
    assert exported.status_code == 200 and exported.json()["data"]["profiles.golden_record"]["traits"]["email"] == EMAIL
    unconfirmed = api_client.post(
        f"/api/v1/profiles/{ottoline.id}/erase/", {"reason": "dsar 7", "confirm": False}, format="json"
    )
    assert unconfirmed.status_code == 400 and "confirm" in unconfirmed.json()["error"]["fields"]
    erased = api_client.post(
        f"/api/v1/profiles/{ottoline.id}/erase/", {"reason": "dsar 7", "confirm": True}, format="json"
    )
    assert erased.status_code == 200 and erased.json()["identifiers_suppressed"] >= 4


@pytest.fixture
def personas_for_privacy(queue, personas):
    return (
        make_member(workspace=queue, role=Role.ADMIN),
        make_member(workspace=queue, role=Role.MARKETER),
        personas.outsider,
    )
