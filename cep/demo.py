"""The demo workspace `make run` shows: a login, a write key and a secret key that stay the same
across runs (kept in var/demo-credentials.json, mode 0600, never committed)."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from typing import cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.defaults import workspace_defaults_install
from accounts.models import SecretKey, Workspace
from accounts.selectors import write_key_active
from accounts.services import secret_key_create, user_create, workspace_create

DEMO_USERNAME = "demo"
DEMO_WORKSPACE_SLUG = "demo-store"


@dataclass(frozen=True)
class DemoCredentials:
    username: str
    password: str
    write_key: str
    secret_key: str
    workspace_id: str


def _load() -> dict[str, str]:
    path = settings.DEMO_CREDENTIALS_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _save(credentials: DemoCredentials) -> None:
    path = settings.DEMO_CREDENTIALS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(credentials), indent=2))
    path.chmod(0o600)


def _secret_key_valid(workspace: Workspace, plaintext: str) -> bool:
    if not plaintext:
        return False
    try:
        key = cast(SecretKey, SecretKey.objects.get_from_key(plaintext))
    except SecretKey.DoesNotExist:
        return False
    return key.workspace_id == workspace.id and not key.revoked


@transaction.atomic
def demo_seed() -> DemoCredentials:
    """Create the demo login and workspace, or reuse them; idempotent."""
    stored = _load()
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_USERNAME).first()
    password = stored.get("password") or secrets.token_urlsafe(9)
    if user is None:
        user = user_create(username=DEMO_USERNAME, password=password, email="demo@example.com")
    elif not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])

    workspace = Workspace.objects.filter(slug=DEMO_WORKSPACE_SLUG).first()
    if workspace is None:
        workspace = workspace_create(name="Demo Store", owner=user)
        workspace.slug = DEMO_WORKSPACE_SLUG
        workspace.save(update_fields=["slug"])

    workspace_defaults_install(workspace=workspace, actor=user)

    write_key = write_key_active(workspace=workspace)
    assert write_key is not None  # workspace_create always makes one

    secret = stored.get("secret_key", "")
    if not _secret_key_valid(workspace, secret):
        _, secret = secret_key_create(workspace=workspace, name="demo", actor=user)

    credentials = DemoCredentials(
        username=DEMO_USERNAME,
        password=password,
        write_key=write_key.key,
        secret_key=secret,
        workspace_id=str(workspace.id),
    )
    transaction.on_commit(lambda: _save(credentials))
    return credentials
