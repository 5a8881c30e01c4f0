from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Workspace
from accounts.principals import Actor, ApiKeyPrincipal, actor_label
from audit.models import AuditEntry

GENESIS = "0" * 64
GLOBAL_CHAIN = "global"


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def entry_digest(entry: AuditEntry) -> str:
    content = {
        "chain": entry.chain,
        "seq": entry.seq,
        "workspace": str(entry.workspace_id) if entry.workspace_id else None,
        "actor": entry.actor_label,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "before": entry.before,
        "after": entry.after,
        "reason": entry.reason,
        "created_at": entry.created_at.isoformat(),
    }
    return hashlib.sha256((entry.prev_hash + _canonical(content)).encode()).hexdigest()


def _lock_chain(chain: str) -> None:
    key = int.from_bytes(hashlib.sha256(f"audit:{chain}".encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str)) if value is not None else None


@transaction.atomic
def audit_record(
    *,
    workspace: Workspace | None,
    actor: Actor,
    action: str,
    target_type: str = "",
    target_id: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEntry:
    chain = str(workspace.id) if workspace is not None else GLOBAL_CHAIN
    _lock_chain(chain)  # serialises appends to one chain; other chains proceed in parallel
    last = AuditEntry.objects.filter(chain=chain).order_by("-seq").only("seq", "hash").first()
    user = actor if actor is not None and not isinstance(actor, ApiKeyPrincipal) and actor.is_authenticated else None
    entry = AuditEntry(
        chain=chain,
        seq=(last.seq + 1) if last else 1,
        workspace=workspace,
        actor_user=user,
        actor_label=actor_label(actor),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=_jsonable(before),
        after=_jsonable(after),
        reason=reason,
        created_at=timezone.now(),
        prev_hash=last.hash if last else GENESIS,
    )
    entry.hash = entry_digest(entry)
    entry.save(force_insert=True)
    return entry
