"""The journeys REST API: signals and playbooks (validated, versioned and audited through the
same services as the pages), and playbook runs with filters and pagination; every endpoint is
workspace-scoped (foreign objects are 404) and ignores workspace, id and version from the client."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.roles import Role
from audit.models import AuditEntry
from journeys.models import Playbook, PlaybookRun, Signal, SignalVersion
from journeys.services import playbook_run_advance, playbook_save, signal_fire, signal_save
from tests.decisions.conftest import person
from tests.factories import make_member, make_secret_key

PAYMENT_SIGNAL = {
    "key": "payment-trouble",
    "name": "Payment trouble",
    "kind": "event_count",
    "definition": {"event": "payment_failed", "count": 3, "window_minutes": 10},
    "condition": "scores.clv_percentile >= 0.8",
}
PAUSE = [{"type": "suppress", "event": "payment_failed", "key": "pause-promotions"}]


def _bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def _signal(workspace: Any, **values: Any) -> Signal:
    return signal_save(workspace=workspace, actor=None, values={**PAYMENT_SIGNAL, **values})


def _playbook(workspace: Any, signal: Signal, key: str = "rescue", **values: Any) -> Playbook:
    return playbook_save(
        workspace=workspace,
        actor=None,
        values={"key": key, "name": key.title(), "signal": signal, "steps": PAUSE, **values},
    )


@pytest.mark.django_db
def test_a_signal_is_created_over_the_api_versioned_and_audited(api_client, workspace, secret_key) -> None:
    # When a signal is posted
    response = api_client.post(
        "/api/v1/signals/", {**PAYMENT_SIGNAL, "reason": "CX asked for it"}, format="json", **_bearer(secret_key)
    )
    # Then it is saved as version 1, with a history entry and an audit entry carrying the reason
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["key"] == "payment-trouble" and body["version"] == 1 and "reason" not in body
    signal = Signal.objects.get(workspace=workspace, key="payment-trouble")
    assert signal.definition == PAYMENT_SIGNAL["definition"]
    assert SignalVersion.objects.filter(signal=signal, version=1).exists()
    entry = AuditEntry.objects.get(workspace=workspace, action="signal.created", target_id="payment-trouble")
    assert entry.reason == "CX asked for it" and entry.after is not None and entry.after["kind"] == "event_count"
    # And it can be read back, alone and in the list
    one = api_client.get("/api/v1/signals/payment-trouble/", **_bearer(secret_key)).json()
    listed = api_client.get("/api/v1/signals/", **_bearer(secret_key)).json()
    assert one["condition"] == "scores.clv_percentile >= 0.8"
    assert [s["key"] for s in listed["results"]] == ["payment-trouble"] and listed["count"] == 1


@pytest.mark.django_db
def test_an_invalid_signal_names_every_wrong_field_in_the_shared_error_shape(api_client, workspace, secret_key) -> None:
    # When a signal with a bad definition and condition is posted
    response = api_client.post(
        "/api/v1/signals/",
        {**PAYMENT_SIGNAL, "definition": {"event": "", "count": 0, "window_minutes": -5}, "condition": "scores.clv >"},
        format="json",
        **_bearer(secret_key),
    )
    # Then nothing is saved and each field is named
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert {"definition.event", "definition.count", "definition.window_minutes", "condition"} <= set(error["fields"])
    # An unknown kind and a duplicate key are field errors too
    bad_kind = api_client.post(
        "/api/v1/signals/", {**PAYMENT_SIGNAL, "kind": "telepathy"}, format="json", **_bearer(secret_key)
    )
    assert bad_kind.status_code == 400 and "kind" in bad_kind.json()["error"]["fields"]
    _signal(workspace)
    duplicate = api_client.post("/api/v1/signals/", PAYMENT_SIGNAL, format="json", **_bearer(secret_key))
    assert duplicate.status_code == 400 and "key" in duplicate.json()["error"]["fields"]
    assert Signal.objects.filter(workspace=workspace).count() == 1


@pytest.mark.django_db
def test_changing_a_signal_makes_a_new_version_and_keeps_its_key(api_client, workspace, secret_key) -> None:
    # Given a signal
    _signal(workspace)
    # When it is patched, with a new key smuggled in
    response = api_client.patch(
        "/api/v1/signals/payment-trouble/",
        {"key": "renamed", "definition": {"event": "payment_failed", "count": 5, "window_minutes": 30}},
        format="json",
        **_bearer(secret_key),
    )
    # Then the definition changed as version 2, the key did not, and the change is audited
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2 and response.json()["key"] == "payment-trouble"
    signal = Signal.objects.get(workspace=workspace)
    assert signal.key == "payment-trouble" and signal.definition["count"] == 5
    assert sorted(signal.versions.values_list("version", flat=True)) == [1, 2]
    entry = AuditEntry.objects.get(workspace=workspace, action="signal.changed")
    assert entry.before is not None and entry.after is not None
    assert entry.before["definition"]["count"] == 3 and entry.after["definition"]["count"] == 5
    # And a bad change is refused without a new version
    bad = api_client.patch(
        "/api/v1/signals/payment-trouble/", {"definition": {"event": "x"}}, format="json", **_bearer(secret_key)
    )
    assert bad.status_code == 400 and "definition.count" in bad.json()["error"]["fields"]
    assert Signal.objects.get(workspace=workspace).version == 2


@pytest.mark.django_db
def test_a_playbook_is_created_and_changed_with_validated_steps(api_client, workspace, secret_key) -> None:
    # Given a signal
    _signal(workspace)
    # When a playbook is posted with a step naming an endpoint that does not exist
    payload = {
        "key": "rescue",
        "name": "Rescue",
        "signal": "payment-trouble",
        "steps": [*PAUSE, {"type": "webhook", "endpoint": "erp", "event_type": "cart.hold"}],
    }
    bad = api_client.post("/api/v1/playbooks/", payload, format="json", **_bearer(secret_key))
    # Then the step's field is named
    assert bad.status_code == 400 and "steps.2.endpoint" in bad.json()["error"]["fields"]
    # When it is posted with valid steps
    good = api_client.post(
        "/api/v1/playbooks/", {**payload, "steps": PAUSE, "reentry_hours": 12}, format="json", **_bearer(secret_key)
    )
    # Then it is saved, versioned and audited
    assert good.status_code == 201, good.content
    assert good.json()["signal"] == "payment-trouble" and good.json()["version"] == 1
    playbook = Playbook.objects.get(workspace=workspace, key="rescue")
    assert playbook.reentry_hours == 12 and playbook.steps == PAUSE
    assert AuditEntry.objects.filter(workspace=workspace, action="playbook.created", target_id="rescue").exists()
    # When its steps change
    changed = api_client.patch(
        "/api/v1/playbooks/rescue/",
        {"steps": [*PAUSE, {"type": "in_app", "body": "Need help, {traits.first_name|there}?"}], "reason": "add help"},
        format="json",
        **_bearer(secret_key),
    )
    # Then a new version is kept and audited with the reason
    assert changed.status_code == 200, changed.content
    assert changed.json()["version"] == 2 and len(changed.json()["steps"]) == 2
    assert AuditEntry.objects.get(workspace=workspace, action="playbook.changed").reason == "add help"
    assert sorted(Playbook.objects.get(pk=playbook.pk).versions.values_list("version", flat=True)) == [1, 2]
    read = api_client.get("/api/v1/playbooks/rescue/", **_bearer(secret_key)).json()
    assert read["steps"][1]["type"] == "in_app"
    assert [p["key"] for p in api_client.get("/api/v1/playbooks/", **_bearer(secret_key)).json()["results"]] == [
        "rescue"
    ]


@pytest.mark.django_db
def test_workspace_id_and_version_from_the_client_are_ignored(api_client, personas) -> None:
    # Given a key of Acme and a signal of Globex
    acme, globex = personas.workspace, personas.other_workspace
    key = make_secret_key(workspace=acme)
    theirs = _signal(globex, key="theirs")
    forged = {
        "id": "00000000-0000-0000-0000-000000000001",
        "workspace": str(globex.id),
        "version": 99,
        "created_at": "2001-01-01T00:00:00Z",
    }
    # When Acme posts a signal claiming Globex's workspace, an id and a version
    response = api_client.post("/api/v1/signals/", {**PAYMENT_SIGNAL, **forged}, format="json", **_bearer(key))
    # Then it lands in Acme, as version 1, with its own id
    assert response.status_code == 201, response.content
    signal = Signal.objects.get(key="payment-trouble")
    assert signal.workspace_id == acme.id and signal.version == 1
    assert str(signal.id) != forged["id"] and signal.created_at.year != 2001
    # And a playbook posted with the same forgeries, and Globex's signal, is refused for the signal
    playbook = {"key": "rescue", "name": "Rescue", "steps": PAUSE, **forged}
    foreign = api_client.post("/api/v1/playbooks/", {**playbook, "signal": theirs.key}, format="json", **_bearer(key))
    assert foreign.status_code == 400 and "signal" in foreign.json()["error"]["fields"]
    own = api_client.post("/api/v1/playbooks/", {**playbook, "signal": signal.key}, format="json", **_bearer(key))
    assert own.status_code == 201, own.content
    saved = Playbook.objects.get(key="rescue")
    assert saved.workspace_id == acme.id and saved.version == 1 and str(saved.id) != forged["id"]
    # And a patch cannot move it either
    moved = api_client.patch("/api/v1/playbooks/rescue/", {**forged, "name": "Moved?"}, format="json", **_bearer(key))
    assert moved.status_code == 200
    saved.refresh_from_db()
    assert saved.workspace_id == acme.id and saved.version == 2 and saved.name == "Moved?"


@pytest.mark.django_db
def test_foreign_objects_are_404_and_changes_need_the_catalog_right(api_client, personas) -> None:
    # Given a signal, a playbook and a run in Globex
    globex = personas.other_workspace
    signal = _signal(globex)
    _playbook(globex, signal)
    run = PlaybookRun.objects.create(
        workspace=globex,
        playbook=Playbook.objects.get(workspace=globex),
        playbook_version=1,
        profile=_globex_person(globex),
        signal_key=signal.key,
        trigger_ref="t1",
    )
    acme_key = make_secret_key(workspace=personas.workspace)
    # Then Acme's key sees none of it, and cannot change it
    foreign = [
        ("get", "/api/v1/signals/payment-trouble/"),
        ("patch", "/api/v1/signals/payment-trouble/"),
        ("get", "/api/v1/playbooks/rescue/"),
        ("patch", "/api/v1/playbooks/rescue/"),
        ("get", f"/api/v1/playbook-runs/{run.id}/"),
    ]
    for method, url in foreign:
        response = getattr(api_client, method)(
            url, {"name": "x"} if method == "patch" else None, format="json", **_bearer(acme_key)
        )
        assert response.status_code == 404, (method, url)
        assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
    assert api_client.get("/api/v1/signals/", **_bearer(acme_key)).json()["count"] == 0
    assert api_client.get("/api/v1/playbook-runs/", **_bearer(acme_key)).json()["count"] == 0
    assert Signal.objects.get(workspace=globex).name == "Payment trouble"
    # And in Acme, a viewer reads but cannot create or change; a marketer can
    _signal(personas.workspace)
    api_client.force_authenticate(make_member(workspace=personas.workspace, role=Role.VIEWER))
    assert api_client.get("/api/v1/signals/payment-trouble/").status_code == 200
    assert api_client.post("/api/v1/signals/", {**PAYMENT_SIGNAL, "key": "v"}, format="json").status_code == 403
    assert api_client.patch("/api/v1/signals/payment-trouble/", {"name": "x"}, format="json").status_code == 403
    api_client.force_authenticate(make_member(workspace=personas.workspace, role=Role.MARKETER))
    assert api_client.patch("/api/v1/signals/payment-trouble/", {"name": "y"}, format="json").status_code == 200


def _globex_person(workspace: Any) -> Any:
    from profiles.models import Identifier, Profile

    profile = Profile.objects.create(workspace=workspace, traits={"first_name": "Gus"})
    Identifier.objects.create(workspace=workspace, profile=profile, kind="user_id", value="gus")
    return profile


@pytest.mark.django_db
def test_runs_are_listed_with_filters_and_pages(api_client, shop, tracker) -> None:
    # Given two playbooks on one signal, and runs for two people; one run completed
    from tests.decisions.conftest import identify

    identify(tracker, "bo", first_name="Bo")
    signal = _signal(shop, condition="")
    _playbook(shop, signal, "rescue")
    _playbook(shop, signal, "comfort")
    ana, bo = person(shop, "ana"), person(shop, "bo")
    runs = []
    for number, who in enumerate([ana, bo, ana]):
        runs += signal_fire(signal=signal, profile=who, trigger_ref=f"t{number}", facts={"count": 3}, because="x")
    completed = playbook_run_advance(run_id=runs[0].id)
    assert completed is not None and completed.status == "completed"
    key = make_secret_key(workspace=shop)
    total = PlaybookRun.objects.filter(workspace=shop).count()

    def get(query: str = "") -> dict[str, Any]:
        response = api_client.get(f"/api/v1/playbook-runs/{query}", **_bearer(key))
        assert response.status_code == 200, response.content
        return response.json()

    # Then the list has every run, newest first, with steps
    everything = get()
    assert everything["count"] == total == len(runs)
    created = [r["created_at"] for r in everything["results"]]
    assert created == sorted(created, reverse=True)
    # And it filters by playbook, person and status
    assert {r["playbook"] for r in get("?playbook=comfort")["results"]} == {"comfort"}
    assert get("?playbook=comfort")["count"] == PlaybookRun.objects.filter(playbook__key="comfort").count()
    assert {r["profile"] for r in get(f"?profile={bo.id}")["results"]} == {str(bo.id)}
    done = get("?status=completed")
    assert [r["id"] for r in done["results"]] == [str(completed.id)]
    assert [s["status"] for s in done["results"][0]["steps"]] == ["done"]
    assert get("?profile=not-a-uuid")["count"] == 0
    bad = api_client.get("/api/v1/playbook-runs/?status=sleeping", **_bearer(key))
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]
    # And it pages: two pages of two cover every run once
    first, second = get("?limit=2"), get("?limit=2&offset=2")
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert len(first["results"]) == 2 and first["next"] and len(set(ids)) == min(4, total)
    detail = api_client.get(f"/api/v1/playbook-runs/{completed.id}/", **_bearer(key)).json()
    assert detail["steps"][0]["type"] == "suppress" and detail["steps"][0]["decision"] is not None
