"""In-app identity verification: the widget's socket takes a userId only with the userHash the
storefront's server computed (hex HMAC-SHA256 with the workspace's secret); an anonymousId
alone still connects but never receives the messages of a person known by a userId."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.roles import Role
from audit.models import AuditEntry
from cep.asgi import application
from delivery.adapters import send_inapp
from delivery.models import Delivery, DeliveryStatus, InAppIdentity
from delivery.services import inapp_identity_rotate
from delivery.signing import inapp_user_hash, inapp_user_hash_valid
from profiles.selectors import profile_by_identifier
from tests.decisions.conftest import person

ORIGIN = [(b"origin", b"http://localhost")]


def _delivered(workspace: Any, profile: Any, key: str, body: str) -> Delivery:
    """An in-app message already sent (as a worker would have) and not yet reported shown."""
    return Delivery.objects.create(
        workspace=workspace,
        key=key,
        channel="in_app",
        status=DeliveryStatus.DELIVERED,
        profile=profile,
        target=str(profile.id),
        body=body,
    )


async def _connect(path: str) -> tuple[WebsocketCommunicator | None, int | None, dict | None]:
    """Connect; on success return the communicator and its hello, else the close code."""
    communicator = WebsocketCommunicator(application, path, headers=ORIGIN)
    connected, code = await communicator.connect(timeout=5)
    if not connected:
        return None, code, None
    return communicator, None, await communicator.receive_json_from(timeout=5)


def _close_code(path: str) -> int | None:
    async def scenario() -> int | None:
        communicator, code, _ = await _connect(path)
        if communicator is not None:
            await communicator.disconnect()
        return code

    return async_to_sync(scenario)()


def test_the_user_hash_is_the_documented_hmac() -> None:
    # Given the documented recipe, computed independently
    import hashlib
    import hmac

    expected = hmac.new(b"iasec_example", b"ana@example.com", hashlib.sha256).hexdigest()
    # Then the platform computes and accepts exactly that (any case), and nothing else
    assert inapp_user_hash("iasec_example", "ana@example.com") == expected
    assert inapp_user_hash_valid("iasec_example", "ana@example.com", expected.upper())
    assert not inapp_user_hash_valid("iasec_example", "bo@example.com", expected)
    assert not inapp_user_hash_valid("iasec_other", "ana@example.com", expected)
    assert not inapp_user_hash_valid("", "ana@example.com", inapp_user_hash("", "ana@example.com"))
    assert not inapp_user_hash_valid("iasec_example", "ana@example.com", "é" * 64)  # non-ASCII: unequal, no crash


@pytest.mark.django_db(transaction=True)
def test_a_user_id_is_refused_without_the_right_hash_and_accepted_with_it(shop, write_key) -> None:
    # Given a workspace with an identity secret and an earlier unshown message for Ana
    _, secret = inapp_identity_rotate(workspace=shop, actor=None)
    ana = person(shop, "ana")
    _delivered(shop, ana, "earlier:1", "Your parcel is on its way")
    base = f"/ws/inapp/?writeKey={write_key}"
    right = inapp_user_hash(secret, "ana")

    # When sockets ask for Ana without a hash, with Bo's hash, with a hash made with another
    # secret, or with garbage, they are refused with 4403
    refused = {
        "missing": _close_code(f"{base}&userId=ana"),
        "empty": _close_code(f"{base}&userId=ana&userHash="),
        "someone else's": _close_code(f"{base}&userId=ana&userHash={inapp_user_hash(secret, 'bo')}"),
        "other secret": _close_code(f"{base}&userId=ana&userHash={inapp_user_hash('iasec_guess', 'ana')}"),
        "garbage": _close_code(f"{base}&userId=ana&userHash=%C3%A9%00zz"),
        # an anonymousId beside a bad hash does not downgrade the socket to anonymous
        "with anonymous id": _close_code(f"{base}&userId=ana&userHash=00&anonymousId=anon-1"),
        # and an unverified socket cannot probe whether a user id exists
        "unknown person": _close_code(f"{base}&userId=nobody-known"),
    }
    assert refused == dict.fromkeys(refused, 4403)
    # A verified user id that is not a customer yet is 4404
    assert _close_code(f"{base}&userId=nobody-known&userHash={inapp_user_hash(secret, 'nobody-known')}") == 4404

    # When the socket gives the hash the storefront's server computed
    async def scenario() -> tuple[dict | None, dict, dict]:
        communicator, _, hello = await _connect(f"{base}&userId=ana&userHash={right}")
        assert communicator is not None
        replayed = await communicator.receive_json_from(timeout=5)
        live = await sync_to_async(_delivered)(shop, ana, "live:1", "Need help with checkout?")
        result = await sync_to_async(send_inapp)(live)
        assert result.ok, result.error
        pushed = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
        return hello, replayed, pushed

    hello, replayed, pushed = async_to_sync(scenario)()

    # Then it is verified, gets the re-sync and the live message
    assert hello == {"type": "hello", "verified": True}
    assert replayed["body"] == "Your parcel is on its way"
    assert pushed["body"] == "Need help with checkout?"


@pytest.mark.django_db(transaction=True)
def test_without_a_secret_no_user_id_is_accepted(shop, write_key) -> None:
    # Given a workspace that never made an in-app identity secret
    assert not InAppIdentity.objects.filter(workspace=shop).exists()
    # When a socket brings a hash made with an empty or made-up secret
    codes = [
        _close_code(f"/ws/inapp/?writeKey={write_key}&userId=ana&userHash={inapp_user_hash(s, 'ana')}")
        for s in ("", "iasec_made_up")
    ]
    # Then it is refused: identity verification cannot be skipped by not configuring it
    assert codes == [4403, 4403]


@pytest.mark.django_db(transaction=True)
def test_rotating_the_secret_retires_every_old_hash(shop, write_key) -> None:
    # Given hashes made with the first secret
    _, old = inapp_identity_rotate(workspace=shop, actor=None)
    # When the secret is rotated
    _, new = inapp_identity_rotate(workspace=shop, actor=None)
    base = f"/ws/inapp/?writeKey={write_key}&userId=ana&userHash="
    # Then the old hash is refused and the new one accepted
    assert old != new and new.startswith("iasec_")
    assert _close_code(base + inapp_user_hash(old, "ana")) == 4403
    assert _close_code(base + inapp_user_hash(new, "ana")) is None
    # And both changes are audited without the secret
    entries = list(AuditEntry.objects.filter(workspace=shop, target_type="InAppIdentity").order_by("created_at"))
    assert [e.action for e in entries] == ["inapp_identity.created", "inapp_identity.rotated"]
    assert all(old not in str(e.after) and new not in str(e.after) for e in entries)


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_visitor_gets_the_messages_of_an_anonymous_person(shop, tracker, write_key) -> None:
    # Given a visitor known only by the random id in their cookie, with an earlier message
    anonymous_id = f"anon-{uuid.uuid4()}"
    response = tracker.post(
        "/v1/track", {"anonymousId": anonymous_id, "event": "Viewed Product", "messageId": str(uuid.uuid4())}
    )
    assert response.status_code == 200
    visitor = profile_by_identifier(workspace=shop, kind="anonymous_id", value=anonymous_id)
    assert visitor is not None
    _delivered(shop, visitor, "anon:1", "Free shipping today")

    # When the widget connects with that anonymousId and a message is pushed
    async def scenario() -> tuple[dict | None, dict, dict]:
        communicator, _, hello = await _connect(f"/ws/inapp/?writeKey={write_key}&anonymousId={anonymous_id}")
        assert communicator is not None
        replayed = await communicator.receive_json_from(timeout=5)
        live = await sync_to_async(_delivered)(shop, visitor, "anon:2", "Still looking? Here is 10 % off")
        assert (await sync_to_async(send_inapp)(live)).ok
        pushed = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
        return hello, replayed, pushed

    hello, replayed, pushed = async_to_sync(scenario)()

    # Then it gets both (an anonymous socket is not verified, and needs no hash)
    assert hello == {"type": "hello", "verified": False}
    assert replayed["body"] == "Free shipping today"
    assert pushed["body"] == "Still looking? Here is 10 % off"
    assert _close_code(f"/ws/inapp/?writeKey={write_key}&anonymousId=anon-never-seen") == 4404


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_id_linked_to_a_user_id_receives_nothing_of_theirs(shop, tracker, write_key) -> None:
    # Given an attacker who knows Ana's user id and the public write key links an anonymousId of
    # their choosing to her through the tracking API
    _, secret = inapp_identity_rotate(workspace=shop, actor=None)
    ana = person(shop, "ana")
    _delivered(shop, ana, "ana:earlier", "Your refund of 129.50 EUR is on its way")
    response = tracker.post(
        "/v1/identify", {"userId": "ana", "anonymousId": "attacker-chosen", "messageId": str(uuid.uuid4())}
    )
    assert response.status_code == 200
    linked = profile_by_identifier(workspace=shop, kind="anonymous_id", value="attacker-chosen")
    assert linked is not None and linked.id == ana.id

    # When the attacker subscribes with that anonymousId while Ana's verified widget is open,
    # and a new message for Ana is sent
    async def scenario() -> tuple[dict | None, dict, dict, dict, bool]:
        attacker, _, attacker_hello = await _connect(f"/ws/inapp/?writeKey={write_key}&anonymousId=attacker-chosen")
        assert attacker is not None
        verified, _, _ = await _connect(
            f"/ws/inapp/?writeKey={write_key}&userId=ana&userHash={inapp_user_hash(secret, 'ana')}"
        )
        assert verified is not None
        ana_replay = await verified.receive_json_from(timeout=5)
        # The attacker's socket answers a ping first: no re-sync was queued before it
        await attacker.send_json_to({"type": "ping"})
        first_for_attacker = await attacker.receive_json_from(timeout=5)
        live = await sync_to_async(_delivered)(shop, ana, "ana:live", "Card ending 4242 declined")
        assert (await sync_to_async(send_inapp)(live)).ok
        ana_live = await verified.receive_json_from(timeout=10)
        # Ana's socket has the message, so the push is done: the attacker's queue stays empty
        attacker_got_nothing = await attacker.receive_nothing(timeout=1)
        await attacker.disconnect()
        await verified.disconnect()
        return attacker_hello, first_for_attacker, ana_replay, ana_live, attacker_got_nothing

    attacker_hello, first_for_attacker, ana_replay, ana_live, attacker_got_nothing = async_to_sync(scenario)()

    # Then Ana gets her messages and the attacker gets none of them
    assert attacker_hello == {"type": "hello", "verified": False}
    assert first_for_attacker == {"type": "pong"}
    assert ana_replay["body"] == "Your refund of 129.50 EUR is on its way"
    assert ana_live["body"] == "Card ending 4242 declined"
    assert attacker_got_nothing


@pytest.mark.django_db
def test_the_settings_page_shows_the_secret_once_and_only_to_key_managers(client, personas) -> None:
    # Given an owner on the in-app identity page of a workspace without a secret
    client.force_login(personas.owner)
    before = client.get("/delivery/in-app/")
    assert before.status_code == 200 and b"No secret yet" in before.content
    # When they create the secret
    created = client.post("/delivery/in-app/rotate/")
    secret = InAppIdentity.objects.get(workspace=personas.workspace).secret
    # Then it is shown in that response only, with the server-side recipe
    assert created.status_code == 200 and secret.encode() in created.content
    after = client.get("/delivery/in-app/")
    assert b"Identity verification is on" in after.content and secret.encode() not in after.content
    assert b"hmac.new(SECRET.encode(), user_id.encode(), hashlib.sha256).hexdigest()" in after.content
    # And members who do not manage API keys can neither see nor rotate it
    for role in (Role.MARKETER, Role.VIEWER):
        client.force_login(personas.member(role))
        assert client.get("/delivery/in-app/").status_code == 403
        assert client.post("/delivery/in-app/rotate/").status_code == 403
    assert InAppIdentity.objects.get(workspace=personas.workspace).secret == secret
