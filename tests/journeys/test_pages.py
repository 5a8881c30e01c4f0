"""Signal and playbook pages for every persona, with inline validation errors and run history."""

from __future__ import annotations

import json

import pytest

from accounts.roles import Role
from journeys.models import Playbook, Signal
from journeys.services import DEFAULT_PLAYBOOK_KEY, journeys_defaults_install, signal_fire
from tests.decisions.conftest import person


@pytest.mark.django_db
def test_everyone_in_the_workspace_reads_and_only_marketers_change(client, personas) -> None:
    journeys_defaults_install(workspace=personas.workspace)
    viewer = personas.member(Role.VIEWER)
    marketer = personas.member(Role.MARKETER)
    url = f"/journeys/playbooks/{DEFAULT_PLAYBOOK_KEY}/"
    for user, method, expected in [
        (personas.owner, "get", 200),
        (viewer, "get", 200),
        (viewer, "post", 403),
        (marketer, "get", 200),
        (personas.outsider, "get", 404),
    ]:
        client.force_login(user)
        response = getattr(client, method)(url)
        assert response.status_code == expected, (user, method)
    client.force_login(viewer)
    assert client.get("/journeys/signals/new/").status_code == 403
    assert b"High CLV payment failure" in client.get("/journeys/playbooks/").content


@pytest.mark.django_db
def test_a_signal_with_a_bad_definition_shows_the_errors_beside_the_fields(client, personas) -> None:
    client.force_login(personas.owner)
    response = client.post(
        "/journeys/signals/new/",
        {
            "name": "Failures",
            "key": "failures",
            "kind": "event_count",
            "definition": '{"event": "payment_failed", "count": 0}',
            "condition": "scores.clv >",
        },
    )
    assert response.status_code == 400
    content = response.content.decode()
    assert 'data-field-error="definition"' in content and "count: must be a whole number" in content
    assert "window_minutes: must be minutes" in content and 'data-field-error="condition"' in content
    broken = client.post(
        "/journeys/signals/new/", {"name": "F", "key": "f", "kind": "event_count", "definition": "{not json"}
    )
    assert broken.status_code == 400 and b"not valid JSON" in broken.content
    good = client.post(
        "/journeys/signals/new/",
        {
            "name": "Failures",
            "key": "failures",
            "kind": "event_count",
            "definition": json.dumps({"event": "payment_failed", "count": 3, "window_minutes": 10}),
            "enabled": "on",
        },
    )
    assert good.status_code == 302 and Signal.objects.get(workspace=personas.workspace, key="failures").version == 1


@pytest.mark.django_db
def test_editing_a_playbook_validates_steps_and_keeps_a_version(client, personas) -> None:
    journeys_defaults_install(workspace=personas.workspace)
    client.force_login(personas.owner)
    url = f"/journeys/playbooks/{DEFAULT_PLAYBOOK_KEY}/"
    form = client.get(url).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data["enabled"] = "on"
    data["steps"] = json.dumps([{"type": "webhook", "endpoint": "erp", "event_type": "cart.hold"}])
    response = client.post(url, data)
    assert (
        response.status_code == 400
        and "1.endpoint: no webhook endpoint &#x27;erp&#x27; yet" in response.content.decode()
    )
    data["steps"] = json.dumps([{"type": "suppress", "event": "payment_failed"}])
    data["reason"] = "only pause promotions"
    assert client.post(url, data).status_code == 302
    playbook = Playbook.objects.get(workspace=personas.workspace, key=DEFAULT_PLAYBOOK_KEY)
    assert playbook.version == 2 and playbook.steps == [{"type": "suppress", "event": "payment_failed"}]


@pytest.mark.django_db
def test_run_history_lists_each_run_with_its_steps(client, shop) -> None:
    journeys_defaults_install(workspace=shop)
    playbook = Playbook.objects.get(workspace=shop, key=DEFAULT_PLAYBOOK_KEY)
    started = signal_fire(signal=playbook.signal, profile=person(shop, "ana"), trigger_ref="t", facts={}, because="x")
    client.force_login(shop.memberships.get(role="owner").user)
    assert started == []  # Ana has no CLV score: not in the top segment
    playbook.signal.condition = ""
    playbook.signal.save()
    [run] = signal_fire(
        signal=playbook.signal, profile=person(shop, "ana"), trigger_ref="t", facts={}, because="3 failures"
    )
    page = client.get(f"/journeys/playbooks/{DEFAULT_PLAYBOOK_KEY}/runs/")
    assert page.status_code == 200 and str(run.id).encode() in page.content and b"3 failures" in page.content
    detail = client.get(f"/journeys/runs/{run.id}/")
    assert detail.status_code == 200 and b'data-step="4"' in detail.content
