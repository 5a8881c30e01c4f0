from __future__ import annotations

import uuid
from typing import Any

import pytest

from decisions.services import action_save, guardrails_save
from profiles.models import Profile
from profiles.selectors import profile_by_identifier
from tests.events.conftest import Tracker, tracker, write_key  # noqa: F401 - shared fixtures

__all__ = ["Tracker"]


def identify(client: Tracker, user: str, **traits: Any) -> None:
    response = client.post("/v1/identify", {"userId": user, "messageId": str(uuid.uuid4()), "traits": traits})
    assert response.status_code == 200, response.content


def track(client: Tracker, user: str, event: str, **properties: Any) -> None:
    response = client.post(
        "/v1/track", {"userId": user, "event": event, "messageId": str(uuid.uuid4()), "properties": properties}
    )
    assert response.status_code == 200, response.content


def person(workspace, user: str) -> Profile:
    found = profile_by_identifier(workspace=workspace, kind="user_id", value=user)
    assert found is not None
    return found


def make_action(workspace, key: str, **values: Any):
    defaults = {
        "key": key,
        "name": key.replace("_", " "),
        "channel": "email",
        "kind": "offer",
        "value_model": "fixed",
        "value_amount": 50,
        "cost": 0.1,
        "content": "Hi {traits.first_name|there}",
    }
    return action_save(workspace=workspace, actor=None, values={**defaults, **values})


@pytest.fixture
def shop(workspace, tracker):  # noqa: F811 - the tracker fixture
    """Ana consents to email and in-app; two actions; quiet hours off so tests do not depend on the clock."""
    identify(tracker, "ana", first_name="Ana", consent={"email": True, "in_app": True})
    guardrails_save(workspace=workspace, actor=None, contact_policy={"quiet_start": None, "quiet_end": None})
    make_action(workspace, "weekly_promo", subject="Deals", content="Hi {traits.first_name|there}, new deals")
    make_action(
        workspace,
        "checkout_help",
        channel="in_app",
        kind="service",
        value_amount=30,
        content="Need help, {traits.first_name}?",
    )
    return workspace
