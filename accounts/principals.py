"""Who is acting: a signed-in user or a secret API key. Selectors and services accept either."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from django.contrib.auth.models import AnonymousUser, User

if TYPE_CHECKING:
    from accounts.models import SecretKey, Workspace


class ApiKeyPrincipal:
    """The identity behind a secret key: full rights inside its own workspace, none elsewhere."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, key: SecretKey) -> None:
        self.key = key
        self.workspace: Workspace = key.workspace

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        if obj is None:
            return False
        workspace_id = getattr(obj, "workspace_id", None) or getattr(obj, "id", None)
        return workspace_id == self.workspace.id

    def __str__(self) -> str:
        return f"key:{self.key.prefix}"


Actor: TypeAlias = User | AnonymousUser | ApiKeyPrincipal | None


def actor_label(actor: Actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, ApiKeyPrincipal):
        return str(actor)
    if not actor.is_authenticated:
        return "anonymous"
    return f"user:{actor.get_username()}"
