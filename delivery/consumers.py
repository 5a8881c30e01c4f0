"""The in-app widget's websocket: /ws/inapp/?writeKey=...&userId=... (or anonymousId=...).

The write key names the workspace (it is public, like the tracking API's); the person is
found by their userId or anonymousId. On connect the widget receives the person's recent
in-app messages it has not reported as shown (a re-sync after a reconnect), then new ones live.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone

CLOSE_UNAUTHENTICATED = 4401
CLOSE_UNKNOWN_PERSON = 4404


class InAppConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("utf-8", "replace"))
        write_key = (query.get("writeKey") or [""])[0]
        user_id = (query.get("userId") or [""])[0]
        anonymous_id = (query.get("anonymousId") or [""])[0]
        found = await self._resolve(write_key, user_id, anonymous_id)
        if found is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        workspace_id, profile_id = found
        if profile_id is None:
            await self.close(code=CLOSE_UNKNOWN_PERSON)
            return
        from delivery.adapters import inapp_group

        self.group = inapp_group(workspace_id, profile_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello"})
        for envelope in await self._pending(workspace_id, profile_id):
            await self.send_json(envelope)

    @database_sync_to_async
    def _resolve(self, write_key: str, user_id: str, anonymous_id: str) -> tuple[str, str | None] | None:
        from accounts.selectors import workspace_from_write_key
        from profiles.selectors import profile_by_identifier

        workspace = workspace_from_write_key(key=write_key) if write_key else None
        if workspace is None:
            return None
        profile = None
        if user_id:
            profile = profile_by_identifier(workspace=workspace, kind="user_id", value=user_id)
        if profile is None and anonymous_id:
            profile = profile_by_identifier(workspace=workspace, kind="anonymous_id", value=anonymous_id)
        return str(workspace.id), (str(profile.id) if profile is not None else None)

    @database_sync_to_async
    def _pending(self, workspace_id: str, profile_id: str) -> list[dict[str, Any]]:
        from delivery.adapters import inapp_envelope
        from delivery.models import Delivery, DeliveryChannel, DeliveryStatus

        hours = float(getattr(settings, "DELIVERY_INAPP_RESYNC_HOURS", 24))
        rows = Delivery.objects.filter(
            workspace_id=workspace_id,
            profile_id=profile_id,
            channel=DeliveryChannel.IN_APP,
            status=DeliveryStatus.DELIVERED,
            opened_at__isnull=True,
            created_at__gte=timezone.now() - timedelta(hours=hours),
        ).order_by("created_at")[:20]
        return [inapp_envelope(d) for d in rows]

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def inapp_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event["envelope"])
