from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Workspace
from accounts.principals import Actor, ApiKeyPrincipal, actor_label
from audit.models import AuditChainHead, AuditEntry

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
    AuditChainHead.objects.update_or_create(chain=chain, defaults={"seq": entry.seq, "hash": entry.hash})
    return entry


REDACTED = "[redacted]"


def _scrub(value: Any, secrets: Sequence[str]) -> tuple[Any, bool]:
    """Replace every occurrence of the secrets (case-insensitively) in strings nested in value."""
    if isinstance(value, str):
        text = value
        for secret in secrets:
            text = re.sub(re.escape(secret), REDACTED, text, flags=re.IGNORECASE)
        return text, text != value
    if isinstance(value, list):
        items = [_scrub(item, secrets) for item in value]
        return [item for item, _ in items], any(changed for _, changed in items)
    if isinstance(value, dict):
        result: dict[Any, Any] = {}
        changed = False
        for key, item in value.items():
            new_key, key_hit = _scrub(key, secrets)
            new_item, item_hit = _scrub(item, secrets)
            result[new_key] = new_item
            changed = changed or key_hit or item_hit
        return result, changed
    return value, False


def audit_redact(*, workspace: Workspace, values: Sequence[str]) -> list[int]:
    """Blank personal values in this workspace's entries (subject erasure) and return the seqs
    changed. The entries keep their links; the caller records the seqs in a new entry (which
    ``audit_verify`` reads to accept these entries' changed content). Runs in the caller's
    transaction; values shorter than 3 characters are not looked for (they would hit everything)."""
    secrets = sorted({v for v in values if v and len(v) >= 3}, key=len, reverse=True)
    if not secrets:
        return []
    chain = str(workspace.id)
    _lock_chain(chain)
    pattern = Q()
    for secret in secrets:
        pattern |= (
            Q(actor_label__icontains=secret)
            | Q(target_id__icontains=secret)
            | Q(reason__icontains=secret)
            | Q(before__icontains=secret)
            | Q(after__icontains=secret)
        )
    changed: list[int] = []
    now = timezone.now()
    for entry in AuditEntry.objects.select_for_update().filter(Q(chain=chain) & pattern).order_by("seq"):
        touched = False
        for name in ("actor_label", "target_id", "reason", "before", "after"):
            value, hit = _scrub(getattr(entry, name), secrets)
            if hit:
                setattr(entry, name, value)
                touched = True
        if touched:
            entry.redacted_at = now
            entry.save(update_fields=["actor_label", "target_id", "reason", "before", "after", "redacted_at"])
            changed.append(entry.seq)
    return changed
