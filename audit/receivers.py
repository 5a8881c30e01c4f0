from __future__ import annotations

from typing import Any

from audit.services import audit_record


def on_change_recorded(sender: Any, **kwargs: Any) -> None:
    audit_record(
        workspace=kwargs["workspace"],
        actor=kwargs.get("actor"),
        action=kwargs["action"],
        target_type=kwargs.get("target_type", ""),
        target_id=kwargs.get("target_id", ""),
        before=kwargs.get("before"),
        after=kwargs.get("after"),
        reason=kwargs.get("reason", ""),
    )
