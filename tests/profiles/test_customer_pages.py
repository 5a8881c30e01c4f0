from __future__ import annotations

import uuid

import pytest

from accounts.roles import Role
from profiles.selectors import profile_by_identifier


def _identify(tracker, user: str, **traits) -> None:
    assert (
        tracker.post("/v1/identify", {"userId": user, "messageId": str(uuid.uuid4()), "traits": traits}).status_code
        == 200
    )


def _track(tracker, user: str, event: str, **properties) -> None:
    body = {"userId": user, "event": event, "messageId": str(uuid.uuid4()), "properties": properties}
    assert tracker.post("/v1/track", body).status_code == 200


@pytest.fixture
def ana(workspace, tracker):
    _identify(tracker, "ana", name="Ana Lima", email="ana@example.com", consent={"email": True})
    _track(tracker, "ana", "Product Viewed", product_id="SKU-1", category="shoes")
    _track(tracker, "ana", "Order Completed", revenue=80)
    profile = profile_by_identifier(workspace=workspace, kind="user_id", value="ana")
    assert profile is not None
    return profile


@pytest.mark.django_db
def test_search_finds_people_by_identifier_or_name(client, personas, tracker, workspace, ana) -> None:
    owner = workspace.memberships.get(role=Role.OWNER).user
    client.force_login(owner)
    page = client.get("/customers/").content.decode()
    assert "Ana Lima" in page
    assert "Ana Lima" in client.get("/customers/?q=ana@example.com").content.decode()
    assert "Ana Lima" in client.get("/customers/?q=lima", HTTP_HX_REQUEST="true").content.decode()
    nobody = client.get("/customers/?q=zzz").content.decode()
    assert "Nobody matches" in nobody


@pytest.mark.django_db
def test_customer_page_shows_golden_record_and_loads_scores_and_timeline(client, workspace, ana) -> None:
    client.force_login(workspace.memberships.get(role=Role.OWNER).user)
    page = client.get(f"/customers/{ana.id}/").content.decode()
    assert "Ana Lima" in page and "ana@example.com" in page
    assert f'hx-get="/customers/{ana.id}/scores/"' in page
    assert "granted" in page  # email consent
    timeline = client.get(f"/customers/{ana.id}/timeline/", HTTP_HX_REQUEST="true").content.decode()
    assert "Order Completed" in timeline and "Product Viewed" in timeline
    assert "<html" not in timeline  # a fragment
    full = client.get(f"/customers/{ana.id}/timeline/").content.decode()
    assert "<html" in full and "Order Completed" in full  # without JavaScript: a page of its own
    scores = client.get(f"/customers/{ana.id}/scores/", HTTP_HX_REQUEST="true").content.decode()
    assert "No scores yet" in scores


@pytest.mark.django_db
def test_customer_pages_respect_the_workspace(client, personas, tracker, ana) -> None:
    client.force_login(personas.outsider)
    assert client.get(f"/customers/{ana.id}/").status_code == 404
    assert client.get(f"/customers/{ana.id}/timeline/").status_code == 404
    assert client.get(f"/customers/{ana.id}/scores/").status_code == 404
    assert "Ana Lima" not in client.get("/customers/").content.decode()
    client.logout()
    assert client.get("/customers/").status_code == 302


@pytest.mark.django_db
def test_search_by_trait_and_by_an_email_typed_in_any_case(client, workspace, tracker, ana) -> None:
    # given Ana (email ana@example.com) on the gold plan and Bo on silver
    _identify(tracker, "ana", plan="gold", age=41)
    _identify(tracker, "bo", name="Bo Berg", plan="silver")
    client.force_login(workspace.memberships.get(role=Role.OWNER).user)
    # when searching by a trait, exactly, with = or :
    gold = client.get("/customers/?q=plan%3Dgold").content.decode()
    silver = client.get("/customers/?q=plan:silver").content.decode()
    by_number = client.get("/customers/?q=age%3D41").content.decode()
    # then only the people with that value are listed
    assert "Ana Lima" in gold and "Bo Berg" not in gold
    assert "Bo Berg" in silver and "Ana Lima" not in silver
    assert "Ana Lima" in by_number
    # and an email identifier is found however it is typed
    assert "Ana Lima" in client.get("/customers/?q=ANA%40Example.COM").content.decode()


@pytest.mark.django_db
def test_a_partial_search_matches_the_start_of_any_word_of_a_name_or_email(client, workspace, tracker) -> None:
    from profiles.selectors import customer_search

    # given people with names and emails in several shapes
    _identify(tracker, "ana", first_name="Ana", last_name="Silva", email="ana.silva@acme.com")
    _identify(tracker, "jo", name="José O'Neil-Smith", email="JOSE@Globex.IO")
    _identify(tracker, "lee", first_name="Lee", last_name="Anderson", email="lee_anderson+shop@acme.com")
    _identify(tracker, "anon")  # no name or email
    owner = workspace.memberships.get(role=Role.OWNER).user

    def found(query: str) -> set[str]:
        people = customer_search(actor=owner, workspace=workspace, query=query)
        return {str(p.traits.get("email", "")).lower() for p in people}

    ana, jose, lee = "ana.silva@acme.com", "jose@globex.io", "lee_anderson+shop@acme.com"
    # then each word typed must start a word of the email or the name, in any case and order
    assert found("an") == {ana, lee}  # Ana, Anderson (not the "an" inside "Silvana" or "jean")
    assert found("SIL") == {ana}
    assert found("silva ana") == found("Ana Sil") == {ana}
    assert found("acme") == {ana, lee}  # everyone at a domain
    assert found("shop") == {lee}  # words split at punctuation: lee, anderson, shop, acme, com
    assert found("josé") == {jose} and found("o'neil") == {jose} and found("neil smith") == {jose}
    assert found("ilva") == set()  # the middle of a word is not the start of one
    assert found("ana lee") == set()  # every word typed has to match the same person
    assert found("--") == set()  # nothing to look for
    # and whole identifiers still answer exactly, from the identifier index
    assert found("ana.silva@acme.com") == {ana}
    assert found("lee") == {lee}  # a user id (exact) wins over the word search
    # and the page lists them
    client.force_login(owner)
    page = client.get("/customers/?q=anders", HTTP_HX_REQUEST="true").content.decode()
    assert "lee_anderson+shop@acme.com" in page and "ana.silva@acme.com" not in page


@pytest.mark.django_db
def test_customer_360_shows_merges_privacy_decisions_and_what_we_would_do_now(client, workspace, tracker, ana) -> None:
    from decisions.models import Decision
    from decisions.services import decision_make, guardrails_save
    from tests.decisions.conftest import make_action

    # given Ana browsed anonymously before, and that profile was merged into hers when she logged in
    anon = {"anonymousId": "anon-7", "event": "Product Viewed", "messageId": str(uuid.uuid4()), "properties": {}}
    assert tracker.post("/v1/track", anon).status_code == 200
    merge = {"userId": "ana", "anonymousId": "anon-7", "messageId": str(uuid.uuid4()), "traits": {}}
    assert tracker.post("/v1/identify", merge).status_code == 200
    # and an action the engine may choose, and one real decision
    guardrails_save(workspace=workspace, actor=None, contact_policy={"quiet_start": None, "quiet_end": None})
    make_action(workspace, "weekly_promo", subject="Deals", content="Hi {traits.first_name|there}")
    made = decision_make(workspace=workspace, profile=ana)
    stored = Decision.objects.filter(workspace=workspace).count()
    client.force_login(workspace.memberships.get(role=Role.OWNER).user)
    # when the 360 page and its fragments load
    page = client.get(f"/customers/{ana.id}/").content.decode()
    decisions = client.get(f"/customers/{ana.id}/decisions/", HTTP_HX_REQUEST="true").content.decode()
    now = client.get(f"/customers/{ana.id}/next/", HTTP_HX_REQUEST="true").content.decode()
    # then the merge history, the anonymous id, and the privacy page are there
    assert 'id="merge-history"' in page and "anon-7" in page
    assert f'href="/customers/{ana.id}/privacy/"' in page
    assert f'hx-get="/customers/{ana.id}/next/"' in page and f'hx-get="/customers/{ana.id}/decisions/"' in page
    # the timeline's decisions side shows the stored decision with its reason
    assert f'data-decision="{made.id}"' in decisions and made.explanation in decisions
    # and "what would we do now" explains a dry run without storing one
    assert 'id="next-result" data-status="dry_run"' in now and "nothing was stored or sent" in now
    assert "<html" not in now and Decision.objects.filter(workspace=workspace).count() == stored
    assert "<html" in client.get(f"/customers/{ana.id}/next/").content.decode()


@pytest.mark.django_db
def test_customer_360_fragments_respect_the_workspace(client, personas, ana) -> None:
    client.force_login(personas.outsider)
    assert client.get(f"/customers/{ana.id}/decisions/").status_code == 404
    assert client.get(f"/customers/{ana.id}/next/").status_code == 404
