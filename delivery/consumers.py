"""The in-app widget's websocket: /ws/inapp/?writeKey=...&userId=...&userHash=... (or anonymousId=...).

The write key names the workspace; it is public, like the tracking API's, so it proves nothing
about the person. Identity verification closes that gap:

- by ``userId``: the storefront's server computes ``userHash = hex HMAC-SHA256(secret, userId)``
  with the workspace's in-app identity secret (Delivery -> In-app identity) and hands it to the
  widget. Without a secret, or with a missing or wrong hash, the socket is closed with 4403
  before the person is even looked up (so the socket cannot be used to probe who is a customer).
  A verified socket receives every in-app message of the person.
- by ``anonymousId`` alone (a random cookie): allowed, but it receives the person's messages only
  while the person is known by anonymous ids alone (no userId, email, phone or custom
  identifier), both the re-sync on connect and live messages. See
  ``delivery.adapters.inapp_anonymous_may_receive`` for why.

On connect the widget receives the person's recent in-app messages it has not reported as
shown (a re-sync after a reconnect), then new ones live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone

CLOSE_UNAUTHENTICATED = 4401
CLOSE_IDENTITY_NOT_VERIFIED = 4403
CLOSE_UNKNOWN_PERSON = 4404


@dataclass(frozen=True)
class Subscriber:
    workspace_id: str
    profile_id: str | None = None
    verified: bool = False
    close_code: int | None = None


class InAppConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("utf-8", "replace"))
        first = {name: (query.get(name) or [""])[0] for name in ("writeKey", "userId", "userHash", "anonymousId")}
        found = await self._resolve(first["writeKey"], first["userId"], first["userHash"], first["anonymousId"])
        if found.close_code is not None or found.profile_id is None:
            await self.close(code=found.close_code or CLOSE_UNKNOWN_PERSON)
            return
        from delivery.adapters import inapp_anonymous_group, inapp_group

        if found.verified:
            self.group = inapp_group(found.workspace_id, found.profile_id)
        else:
            self.group = inapp_anonymous_group(found.workspace_id, found.profile_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "verified": found.verified})
        for envelope in await self._pending(found):
            await self.send_json(envelope)

    @database_sync_to_async
    def _resolve(self, write_key: str, user_id: str, user_hash: str, anonymous_id: str) -> Subscriber:
        from accounts.selectors import workspace_from_write_key
        from delivery.selectors import inapp_identity_secret
        from delivery.signing import inapp_user_hash_valid
        from profiles.selectors import profile_by_identifier

        workspace = workspace_from_write_key(key=write_key) if write_key else None
        if workspace is None:
            return Subscriber(workspace_id="", close_code=CLOSE_UNAUTHENTICATED)
        if user_id:
            # Checked before the lookup: an unverified userId learns nothing, not even whether
            # such a customer exists. No anonymous fallback either: a wrong hash is an error the
            # storefront must see (4403), not a silent downgrade.
            secret = inapp_identity_secret(workspace_id=workspace.id)
            if not inapp_user_hash_valid(secret, user_id, user_hash):
                return Subscriber(workspace_id=str(workspace.id), close_code=CLOSE_IDENTITY_NOT_VERIFIED)
            profile = profile_by_identifier(workspace=workspace, kind="user_id", value=user_id)
            return Subscriber(
                workspace_id=str(workspace.id), profile_id=str(profile.id) if profile else None, verified=True
            )
        profile = profile_by_identifier(workspace=workspace, kind="anonymous_id", value=anonymous_id)
        return Subscriber(workspace_id=str(workspace.id), profile_id=str(profile.id) if profile else None)

    @database_sync_to_async
    def _pending(self, found: Subscriber) -> list[dict[str, Any]]:
        from delivery.adapters import inapp_anonymous_may_receive, inapp_envelope
        from delivery.models import Delivery, DeliveryChannel, DeliveryStatus

        if found.profile_id is None or (not found.verified and not inapp_anonymous_may_receive(found.profile_id)):
            return []
        hours = float(getattr(settings, "DELIVERY_INAPP_RESYNC_HOURS", 24))
        rows = Delivery.objects.filter(
            workspace_id=found.workspace_id,
            profile_id=found.profile_id,
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
