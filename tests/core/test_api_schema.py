from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_openapi_schema_documents_bearer_auth_and_routes(client) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["secretKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["secretKey"]["description"],
    }
    assert {"/api/v1/workspace/", "/api/v1/keys/", "/api/v1/keys/{prefix}/revoke/"} <= set(schema["paths"])


@pytest.mark.django_db
def test_api_docs_page_uses_local_assets(client) -> None:
    html = client.get("/api/docs/").content.decode()
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
