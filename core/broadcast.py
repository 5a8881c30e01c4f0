"""Websocket pushes, sent only once the surrounding transaction has committed."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def workspace_group(workspace_id: UUID | str) -> str:
    return f"workspace.{workspace_id}"


def broadcast_now(*, group: str, message_type: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    envelope = {"type": "envelope.send", "envelope": {"type": message_type, **payload}}
    try:
        async_to_sync(layer.group_send)(group, envelope)
    except Exception:  # a dashboard push must never break the write that caused it
        logger.exception("broadcast to %s failed", group)


def broadcast_after_commit(*, group: str, message_type: str, payload: dict[str, Any]) -> None:
    transaction.on_commit(lambda: broadcast_now(group=group, message_type=message_type, payload=payload))
