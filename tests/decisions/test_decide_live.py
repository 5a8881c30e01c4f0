"""/v1/decide and /v1/outcome over a real ASGI server, through Django and through the lean path
as deployed: the same answers either way, errors included."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from decisions.models import Decision, Outcome
from decisions.services import policy_save
from tests.events.conftest import live_server_url  # noqa: F401 - the uvicorn fixture

pytestmark = pytest.mark.django_db(transaction=True)


def _post(base: str, path: str, body: Any, key: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.post(base + path, json=body, headers=headers, timeout=30)


def test_decide_and_outcome_answer_alike_on_both_paths(
    request: pytest.FixtureRequest,
    shop,
    secret_key: str,
    live_server_url: str,  # noqa: F811
) -> None:
    # no holdout: Ana must be shown something (people in the holdout get no action back)
    live = {"key": "main", "name": "Main", "status": "live", "holdout_share": 0}
    policy_save(workspace=shop, actor=None, values=live)
    decided = _post(
        live_server_url, "/v1/decide", {"person": {"userId": "ana"}, "context": {"page": "/checkout"}}, secret_key
    )
    assert decided.status_code == 200, decided.text
    # Django's middleware stamps X-Frame-Options; the lean path (as deployed) never runs it.
    lean = request.node.callspec.params["live_server_url"] == "lean"
    assert ("X-Frame-Options" in decided.headers) is not lean
    answer = decided.json()
    assert answer["action"]["key"] in {"weekly_promo", "checkout_help"}
    assert "Ana" in answer["action"]["body"]
    assert answer["explanation"]
    decision = Decision.objects.get(id=answer["decision_id"])
    assert decision.context == {"page": "/checkout"}

    recorded = _post(
        live_server_url,
        "/v1/outcome",
        {"decisionId": answer["decision_id"], "kind": "clicked", "id": "click-1"},
        secret_key,
    )
    assert recorded.status_code == 201, recorded.text
    assert Outcome.objects.filter(decision=decision, kind="clicked").count() == 1


def test_errors_have_the_same_shape_on_both_paths(shop, secret_key: str, live_server_url: str) -> None:  # noqa: F811
    wrong_key = _post(live_server_url, "/v1/decide", {"person": {"userId": "ana"}}, "nope.nope")
    assert wrong_key.status_code == 401
    assert wrong_key.json()["error"]["message"] == "Unknown secret key."

    invalid = _post(live_server_url, "/v1/decide", {"person": "ana"}, secret_key)
    assert invalid.status_code == 400
    assert invalid.json()["error"]["code"] == "invalid"
    assert "person" in invalid.json()["error"]["fields"]

    unknown = _post(live_server_url, "/v1/decide", {"person": {"userId": "nobody"}}, secret_key)
    assert unknown.status_code == 404

    not_json = requests.post(
        live_server_url + "/v1/decide",
        data=b"{not json",
        headers={"Authorization": f"Bearer {secret_key}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert not_json.status_code == 400
    assert "error" in not_json.json()

    anonymous = _post(live_server_url, "/v1/decide", {"person": {"userId": "ana"}}, None)
    assert anonymous.status_code in (401, 403)
    assert Decision.objects.count() == 0
