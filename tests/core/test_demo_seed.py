from __future__ import annotations

import json

import pytest
from django.contrib.auth import authenticate

from accounts.models import SecretKey, Workspace
from cep.demo import demo_seed


@pytest.fixture
def creds_file(settings, tmp_path):
    settings.DEMO_CREDENTIALS_FILE = tmp_path / "demo-credentials.json"
    return settings.DEMO_CREDENTIALS_FILE


@pytest.mark.django_db(transaction=True)
def test_demo_seed_creates_a_usable_login_and_keys(creds_file, client) -> None:
    creds = demo_seed()
    assert authenticate(username=creds.username, password=creds.password) is not None
    assert json.loads(creds_file.read_text())["secret_key"] == creds.secret_key
    assert oct(creds_file.stat().st_mode & 0o777) == "0o600"
    response = client.get("/api/v1/workspace/", HTTP_AUTHORIZATION=f"Bearer {creds.secret_key}")
    assert response.status_code == 200
    assert response.json()["name"] == "Demo Store"


@pytest.mark.django_db(transaction=True)
def test_second_run_reuses_the_same_login_and_keys(creds_file) -> None:
    first = demo_seed()
    second = demo_seed()
    assert second == first
    assert Workspace.objects.filter(slug="demo-store").count() == 1
    assert SecretKey.objects.filter(workspace__slug="demo-store").count() == 1


@pytest.mark.django_db(transaction=True)
def test_lost_credentials_file_gets_a_fresh_secret_key(creds_file) -> None:
    first = demo_seed()
    creds_file.unlink()
    second = demo_seed()
    assert second.write_key == first.write_key
    assert second.secret_key != first.secret_key
    assert authenticate(username="demo", password=second.password) is not None
