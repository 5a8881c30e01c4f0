from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

TRACKING_PATHS = ["/v1/identify", "/v1/track", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias", "/v1/batch"]


def _schema(client: Client) -> dict[str, Any]:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def test_tracking_endpoints_are_documented_with_examples(client: Client) -> None:
    schema = _schema(client)
    for path in TRACKING_PATHS:
        operation = schema["paths"][path]["post"]
        assert operation["tags"] == ["tracking"]
        assert operation["security"] == [{"writeKey": []}]
        content = operation["requestBody"]["content"]
        assert {"application/json", "text/plain"} <= set(content)
        assert content["application/json"]["examples"], path
        assert {"200", "400", "401", "413", "429"} <= set(operation["responses"])
    track = schema["paths"]["/v1/track"]["post"]["requestBody"]["content"]["application/json"]
    (example,) = track["examples"].values()
    assert example["value"]["event"] == "Order Completed"
    assert schema["components"]["securitySchemes"]["writeKey"]["scheme"] == "basic"
    batch_item = schema["components"]["schemas"]["BatchItemRequest"]
    assert "type" in batch_item["required"]


def test_the_documented_example_is_accepted(client: Client, workspace: Any) -> None:
    from accounts.selectors import write_key_active
    from tests.events.conftest import Tracker

    tracker = Tracker(client, write_key_active(workspace=workspace).key)  # type: ignore[union-attr]
    schema = _schema(client)
    for path in TRACKING_PATHS:
        content = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        for example in content["examples"].values():
            response = tracker.post(path, example["value"])
            assert response.status_code == 200, (path, response.content)
