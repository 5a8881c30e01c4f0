"""Mass assignment: no writable endpoint takes the workspace, the owner, the id or other
server-set fields from the client. Each test sends a write with those fields pointing at another
workspace (Globex) or person, then checks what was stored.

Also: list endpoints never show another workspace's rows."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from accounts.models import SecretKey
from accounts.roles import Role
from decisions.models import Action, GuardrailConfig, Policy
from tests.factories import make_member

FOREIGN_DATE = "2000-01-01T00:00:00Z"


def _smuggled(personas: Any) -> dict[str, Any]:
    """Fields a client must never be able to set, aimed at the other workspace and its owner."""
    return {
        "workspace": str(personas.other_workspace.id),
        "workspace_id": str(personas.other_workspace.id),
        "id": str(uuid.uuid4()),
        "pk": str(uuid.uuid4()),
        "owner": personas.outsider.pk,
        "created_by": personas.outsider.pk,
        "version": 99,
        "created_at": FOREIGN_DATE,
        "updated_at": FOREIGN_DATE,
    }


@pytest.fixture
def owner_client(personas) -> Client:
    client = Client()
    client.force_login(personas.owner)
    return client


def _send(client: Client, method: str, url: str, body: dict[str, Any]) -> Any:
    import json

    return client.generic(method, url, data=json.dumps(body), content_type="application/json")


@pytest.mark.django_db
def test_action_create_and_change_ignore_server_fields(personas, owner_client) -> None:
    smuggled = _smuggled(personas)
    body = {
        **smuggled,
        "key": "promo",
        "name": "Promo",
        "channel": "email",
        "kind": "offer",
        "value_amount": "10",
        "cost": "1",
    }
    created = _send(owner_client, "POST", "/api/v1/actions/", body)
    assert created.status_code == 201, created.content
    action = Action.objects.get(key="promo")
    assert action.workspace == personas.workspace and str(action.id) != smuggled["id"]
    assert action.version == 1 and action.created_at.year > 2000
    changed = _send(owner_client, "PATCH", "/api/v1/actions/promo/", {**smuggled, "name": "Promo 2"})
    assert changed.status_code == 200
    action.refresh_from_db()
    assert action.name == "Promo 2" and action.version == 2 and action.workspace == personas.workspace
    assert not Action.objects.filter(workspace=personas.other_workspace).exists()


@pytest.mark.django_db
def test_policy_create_and_change_ignore_server_fields(personas, owner_client) -> None:
    smuggled = _smuggled(personas)
    created = _send(owner_client, "POST", "/api/v1/policies/", {**smuggled, "key": "main", "name": "Main"})
    assert created.status_code == 201, created.content
    policy = Policy.objects.get(key="main")
    assert policy.workspace == personas.workspace and str(policy.id) != smuggled["id"] and policy.version == 1
    _send(owner_client, "PATCH", "/api/v1/policies/main/", {**smuggled, "name": "Main 2"})
    policy.refresh_from_db()
    assert policy.version == 2 and not Policy.objects.filter(workspace=personas.other_workspace).exists()


@pytest.mark.django_db
def test_guardrails_change_only_the_callers_workspace(personas, owner_client) -> None:
    body = {
        **_smuggled(personas),
        "contact_policy": {"overall_day": 2},
        "brand_safety": {},
        "suppression_rules": [],
    }
    assert _send(owner_client, "PUT", "/api/v1/guardrails/", body).status_code == 200
    assert GuardrailConfig.objects.get(workspace=personas.workspace).contact_policy == {"overall_day": 2}
    assert not GuardrailConfig.objects.filter(workspace=personas.other_workspace).exists()


@pytest.mark.django_db
def test_secret_keys_belong_to_the_callers_workspace_and_creator(personas, owner_client) -> None:
    created = _send(owner_client, "POST", "/api/v1/keys/", {**_smuggled(personas), "name": "ci", "prefix": "mine"})
    assert created.status_code == 201
    key = SecretKey.objects.get(name="ci")
    assert key.workspace == personas.workspace and key.created_by == personas.owner and key.prefix != "mine"


@pytest.mark.django_db
def test_consent_and_items_stay_in_the_callers_workspace(personas, owner_client) -> None:
    from profiles.models import Item, Profile

    ana = Profile.objects.create(workspace=personas.workspace, traits={"first_name": "Ana"})
    response = _send(owner_client, "POST", f"/api/v1/profiles/{ana.id}/consent", {**_smuggled(personas), "email": True})
    assert response.status_code == 200
    ana.refresh_from_db()
    assert ana.consent["email"]["granted"] is True and ana.workspace == personas.workspace
    items = {"items": [{**_smuggled(personas), "id": "tea-1", "name": "Green tea"}], **_smuggled(personas)}
    assert _send(owner_client, "POST", "/api/v1/items/", items).status_code in (200, 201, 202)
    assert Item.objects.filter(workspace=personas.workspace).count() == 1
    assert not Item.objects.filter(workspace=personas.other_workspace).exists()


@pytest.mark.django_db
def test_webhook_endpoints_ignore_workspace_and_secret(personas, owner_client) -> None:
    from delivery.models import WebhookEndpoint

    body = {**_smuggled(personas), "key": "erp", "url": "https://erp.example.com/hook", "secret": "whsec_chosen"}
    created = _send(owner_client, "POST", "/api/v1/webhook-endpoints/", body)
    assert created.status_code == 201, created.content
    endpoint = WebhookEndpoint.objects.get(key="erp")
    assert endpoint.workspace == personas.workspace and endpoint.secret != "whsec_chosen"
    _send(owner_client, "PATCH", "/api/v1/webhook-endpoints/erp/", {**_smuggled(personas), "secret": "whsec_again"})
    endpoint.refresh_from_db()
    assert endpoint.secret != "whsec_again" and endpoint.workspace == personas.workspace


@pytest.mark.django_db
def test_content_blocks_belong_to_the_callers_workspace(personas, owner_client) -> None:
    from delivery.models import ContentBlock

    body = {**_smuggled(personas), "key": "welcome", "name": "Welcome", "channel": "email", "body": "Hello"}
    created = _send(owner_client, "POST", "/api/v1/content-blocks/", body)
    assert created.status_code == 201, created.content
    block = ContentBlock.objects.get(key="welcome")
    assert block.workspace == personas.workspace and str(block.id) != body["id"] and block.created_at.year > 2000
    _send(owner_client, "PATCH", "/api/v1/content-blocks/welcome/", {**_smuggled(personas), "name": "Hi"})
    block.refresh_from_db()
    assert block.name == "Hi" and not ContentBlock.objects.filter(workspace=personas.other_workspace).exists()


@pytest.mark.django_db
def test_tickets_ignore_status_assignee_and_creator(personas, owner_client) -> None:
    from profiles.models import Identifier, Profile
    from support.models import Ticket

    ana = Profile.objects.create(workspace=personas.workspace, traits={"first_name": "Ana"})
    Identifier.objects.create(workspace=personas.workspace, profile=ana, kind="user_id", value="ana")
    body = {
        **_smuggled(personas),
        "person": {"userId": "ana"},
        "subject": "Card declined",
        "status": "resolved",
        "priority": 100,
        "assignee": personas.outsider.pk,
    }
    created = _send(owner_client, "POST", "/api/v1/tickets/", body)
    assert created.status_code == 201, created.content
    ticket = Ticket.objects.get(subject="Card declined")
    assert ticket.workspace == personas.workspace and str(ticket.id) != body["id"]
    assert ticket.status != "resolved" and ticket.assignee != personas.outsider
    assert ticket.created_by != str(personas.outsider.pk)


@pytest.mark.django_db
def test_training_runs_belong_to_the_callers_workspace(personas, owner_client) -> None:
    from scoring.models import TrainingRun

    smuggled = _smuggled(personas)
    response = _send(owner_client, "POST", "/api/v1/models/train", {**smuggled, "status": "succeeded"})
    assert response.status_code == 202, response.content
    run = TrainingRun.objects.get()
    assert run.workspace == personas.workspace and run.status != "succeeded" and str(run.id) != smuggled["id"]


@pytest.mark.django_db
def test_approval_writes_ignore_status_and_decider(personas, owner_client) -> None:
    from decisions.models import Decision, DecisionStatus
    from tests.accounts.test_permission_matrix import World

    world = World(personas)
    decision_id = world.get("decision")
    body = {**_smuggled(personas), "body": "Edited", "status": "rejected", "decided_by": personas.outsider.pk}
    response = _send(owner_client, "POST", f"/api/v1/approvals/{decision_id}/edit/", body)
    assert response.status_code == 200, response.content
    decision = Decision.objects.get(pk=decision_id)
    assert decision.status == DecisionStatus.APPROVED and decision.review.decided_by == personas.owner
    # approver categories apply to the member in the path, not to a user named in the body
    membership_id = world.get("membership")
    limited = _send(
        owner_client,
        "PUT",
        f"/api/v1/approvers/{membership_id}/categories/",
        {**_smuggled(personas), "kinds": ["offer"], "user": personas.outsider.pk},
    )
    assert limited.json() == {"kinds": ["offer"]}
    from decisions.approval_selectors import approver_kinds

    assert approver_kinds(actor=personas.outsider, workspace=personas.other_workspace) is None  # untouched


LISTS = [
    "/api/v1/actions/",
    "/api/v1/policies/",
    "/api/v1/decisions/",
    "/api/v1/approvals/",
    "/api/v1/trust/",
    "/api/v1/audit/?limit=500",
    "/api/v1/keys/",
    "/api/v1/workspace/members/",
    "/api/v1/items/",
    "/api/v1/models/",
    "/api/v1/webhook-endpoints/",
    "/api/v1/content-blocks/",
    "/api/v1/deliveries/",
    "/api/v1/deliveries/dead-letter/",
    "/api/v1/tickets/",
    "/api/v1/leads/",
]


@pytest.mark.django_db
def test_list_endpoints_never_show_another_workspaces_rows(personas) -> None:
    from tests.accounts.test_permission_matrix import World

    # given Globex has one of everything, marked with its own names
    class Theirs(World):
        def __init__(self, p: Any) -> None:
            super().__init__(p)
            self.ws = p.other_workspace

    theirs = Theirs(personas)
    for name in (
        "action",
        "policy",
        "decision",
        "item",
        "version",
        "endpoint",
        "block",
        "delivery",
        "ticket",
        "lead",
        "key",
    ):
        theirs.get(name)
    make_member(workspace=personas.other_workspace, role=Role.VIEWER)
    foreign_ids = {value for value in theirs._cache.values() if len(value) > 4}
    # when Acme's owner reads every list
    client = Client()
    client.force_login(personas.owner)
    for url in LISTS:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        leaked = [value for value in foreign_ids if value in body]
        assert leaked == [], f"{url} shows Globex rows: {leaked}"
        assert "Globex" not in body, url
