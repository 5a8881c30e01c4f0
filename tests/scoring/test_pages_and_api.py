"""The model registry pages and API: permissions for every persona, training on demand with
progress, the version page (calibration, drift warning, sample scores) and scores on the golden record."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import Client
from rest_framework.test import APIClient

from accounts.roles import Role
from events.services import event_batch_ingest
from events.validation import validate_batch
from scoring.models import ModelKind, ModelStatus, RunStatus, TrainingRun
from scoring.selectors import scores_for_profile
from scoring.services import drift_report_compute, model_version_create, model_version_promote, scores_refresh

A, D, N, L = "A", "D", "N", "L"
PERSONAS = ["owner", "admin", "marketer", "approver", "support_agent", "viewer", "outsider", "anonymous"]
MATRIX = [
    # kind, method, path ({version}, {run}, {profile} of the target workspace)
    #                                                    owner admin mark appr supp view outs anon
    ("page", "GET", "/models/", [A, A, A, A, A, A, A, L]),
    ("page", "GET", "/models/runs/", [A, A, A, A, A, A, A, L]),
    ("page", "POST", "/models/train/", [A, A, A, D, D, D, A, L]),
    ("page", "GET", "/models/{version}/", [A, A, A, A, A, A, N, L]),
    ("page", "POST", "/models/{version}/promote/", [A, A, A, D, D, D, N, L]),
    ("page", "POST", "/models/{version}/drift/", [A, A, A, D, D, D, N, L]),
    ("api", "GET", "/api/v1/models/", [A, A, A, A, A, A, A, L]),
    ("api", "POST", "/api/v1/models/train", [A, A, A, D, D, D, A, L]),
    ("api", "GET", "/api/v1/models/{version}/", [A, A, A, A, A, A, N, L]),
    ("api", "POST", "/api/v1/models/{version}/promote", [A, A, A, D, D, D, N, L]),
    ("api", "GET", "/api/v1/models/runs/{run}/", [A, A, A, A, A, A, N, L]),
    ("api", "GET", "/api/v1/scores/{profile}/", [A, A, A, A, A, A, N, L]),
]
ROUTES = [pytest.param(kind, method, path, row, id=f"{method} {path}") for kind, method, path, row in MATRIX]


def _client_for(personas, persona: str) -> Client:
    client = Client()
    if persona == "owner":
        client.force_login(personas.owner)
    elif persona == "outsider":
        client.force_login(personas.outsider)
    elif persona != "anonymous":
        client.force_login(personas.member(Role(persona)))
    return client


def _outcome(kind: str, response) -> str:
    status = response.status_code
    if status in (200, 201, 202):
        return A
    if status == 302:
        return L if "/accounts/login/" in response["Location"] else A
    if status == 401 and kind == "api":
        return L
    return {403: D, 404: N}.get(status, f"HTTP {status}")


def _person(workspace, anonymous_id: str, now) -> str:
    event = {"type": "track", "event": "Product Viewed", "anonymousId": anonymous_id, "timestamp": now.isoformat()}
    batch = [{**event, "properties": {"category": "books"}}]
    messages, _ = validate_batch({"batch": batch}, received_at=now)
    return str(event_batch_ingest(workspace=workspace, messages=messages, received_at=now).stored[0].profile_id)


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "method", "path", "row"), ROUTES)
def test_permissions_per_persona(personas, trained, stored_world, kind, method, path, row) -> None:
    workspace = personas.workspace
    profile = _person(workspace, "anon-permission", stored_world.now)
    for persona, expected in zip(PERSONAS, row, strict=True):
        version = model_version_create(workspace=workspace, trained=trained[ModelKind.CONVERSION])
        run = TrainingRun.objects.create(workspace=workspace, kinds=["churn"], status=RunStatus.SUCCEEDED, progress=100)
        url = path.format(version=version.pk, run=run.pk, profile=profile)
        client = _client_for(personas, persona)
        data = {"reason": "checked by hand", "kinds": ["conversion"]}
        if method == "GET":
            response = client.get(url)
        elif kind == "api":
            response = client.post(url, data, content_type="application/json")
        else:
            response = client.post(url, data)
        outcome = _outcome(kind, response)
        assert outcome == expected, (
            f"{method} {url} as {persona}: got {outcome} ({response.status_code}), table says {expected}"
        )
        if persona == "outsider" and outcome == A and method == "GET":
            assert "Acme" not in response.content.decode() and str(version.pk) not in response.content.decode()
        TrainingRun.objects.filter(workspace=workspace).delete()  # the next persona may queue its own


@pytest.mark.django_db
def test_training_on_demand_over_the_api_with_a_secret_key(secret_key, workspace) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
    response = client.post("/api/v1/models/train", {"kinds": ["conversion", "clv"]}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["kinds"] == ["conversion", "clv"] and body["trigger"] == "api"
    again = client.post("/api/v1/models/train", {}, format="json")
    assert again.json()["id"] == body["id"]  # one run at a time per workspace
    status = client.get(f"/api/v1/models/runs/{body['id']}/").json()
    assert status["progress"] == 0 and status["status"] == "queued"
    bad = client.post("/api/v1/models/train", {"kinds": ["astrology"]}, format="json")
    assert bad.status_code == 400


@pytest.mark.django_db
def test_runs_partial_polls_only_while_a_run_is_unfinished(personas) -> None:
    client = _client_for(personas, "owner")
    run = TrainingRun.objects.create(
        workspace=personas.workspace, kinds=["churn"], status=RunStatus.RUNNING, progress=42, message="churn: fitting"
    )
    html = client.get("/models/runs/").content.decode()
    assert 'hx-trigger="every 1s"' in html and 'value="42"' in html and "churn: fitting" in html
    TrainingRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED,
        progress=100,
        outcomes=[{"kind": "churn", "action": "", "status": "skipped", "reason": "too few rows"}],
    )
    html = client.get("/models/runs/").content.decode()
    assert "hx-trigger" not in html and "too few rows" in html


@pytest.mark.django_db
def test_train_button_queues_a_run_and_returns_the_runs_panel(personas) -> None:
    client = _client_for(personas, "marketer")
    response = client.post("/models/train/", {"kinds": ["churn"]}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    run = TrainingRun.objects.get(workspace=personas.workspace)
    assert run.kinds == ["churn"] and run.requested_by.startswith("user:")
    assert 'id="runs"' in response.content.decode() and 'hx-trigger="every 1s"' in response.content.decode()


@pytest.mark.django_db
def test_version_page_shows_metrics_calibration_drift_warning_and_sample_scores(stored_world, trained) -> None:
    workspace = stored_world.workspace
    version = model_version_create(workspace=workspace, trained=trained[ModelKind.CONVERSION])
    model_version_promote(version=version, actor=None, reason="page test")
    people = [stored_world.profile_id(p) for p in stored_world.single_device_people()[:20]]
    scores_refresh(workspace=workspace, profile_ids=people, now=stored_world.now)
    drift_report_compute(version=version, now=stored_world.now + timedelta(days=45))  # everyone went quiet

    client = Client()
    client.force_login(stored_world.workspace_owner())
    html = client.get(f"/models/{version.pk}/").content.decode()
    heldout = trained[ModelKind.CONVERSION].metrics["heldout"]
    assert f"{heldout['auc']:.3f}" in html
    assert 'id="calibration-data"' in html and "chart.umd.min.js" in html and "cdn" not in html.lower()
    table = html.split('id="calibration-table"')[1].split("</table>")[0]
    assert len(re.findall("<tr>", table)) == 1 + sum(1 for row in heldout["calibration"] if row["count"])
    assert 'id="drift-warning"' in html and "significant" in html
    assert "conversion propensity by" in html  # sample scores with explanations
    assert "Make active" not in html  # already active


@pytest.mark.django_db
def test_models_page_lists_versions_with_metrics(stored_world, trained) -> None:
    workspace = stored_world.workspace
    for kind in (ModelKind.CONVERSION, ModelKind.CLV):
        model_version_create(workspace=workspace, trained=trained[kind])
    client = Client()
    client.force_login(stored_world.workspace_owner())
    html = client.get("/models/").content.decode()
    assert f"{trained[ModelKind.CONVERSION].metrics['heldout']['auc']:.3f}" in html
    assert f"{trained[ModelKind.CLV].metrics['purchases_mae']:.3f}" in html
    assert "No active model yet" in html and "Train now" in html


@pytest.mark.django_db
def test_scores_partial_and_api_show_a_persons_scores(stored_world, trained) -> None:
    workspace = stored_world.workspace
    version = model_version_create(workspace=workspace, trained=trained[ModelKind.CHURN])
    model_version_promote(version=version, actor=None, reason="partial test")
    person = stored_world.single_device_people()[3]
    profile_id = stored_world.profile_id(person)
    scores_refresh(workspace=workspace, profile_ids=[profile_id], now=stored_world.now)
    owner = stored_world.workspace_owner()

    views = scores_for_profile(actor=owner, workspace=workspace, profile_id=profile_id)
    assert [v.kind for v in views] == [ModelKind.CHURN]
    html = render_to_string("scoring/_scores.html", {"scores": views})
    assert "Churn risk" in html and views[0].explanation[0] in html and f"v{version.version}" in html

    client = APIClient()
    client.force_authenticate(owner)
    body = client.get(f"/api/v1/scores/{profile_id}/").json()
    assert body[0]["kind"] == "churn" and body[0]["model_version"] == version.version
    assert body[0]["value"] == pytest.approx(views[0].value) and body[0]["explanation"] == views[0].explanation
    detail = client.get(f"/api/v1/models/{version.pk}/").json()
    assert detail["artifact"]["format"] == "cep.logistic.v1" and detail["status"] == ModelStatus.ACTIVE


@pytest.mark.django_db
def test_the_model_api_is_in_the_openapi_schema(client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert {
        "/api/v1/models/",
        "/api/v1/models/train",
        "/api/v1/models/runs/{run_id}/",
        "/api/v1/models/{version_id}/",
        "/api/v1/models/{version_id}/promote",
        "/api/v1/scores/{profile_id}/",
    } <= set(schema["paths"])
    assert schema["paths"]["/api/v1/models/train"]["post"]["responses"].keys() >= {"202"}
    assert schema["components"]["schemas"]["ModelKindEnum"]["enum"] == ["conversion", "churn", "clv", "response"]
