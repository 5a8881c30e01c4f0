"""Workspace websocket: authenticated users join their current workspace's group."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.broadcast import workspace_group

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class WorkspaceConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        workspace_id = await self._workspace_id(user)
        if workspace_id is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = workspace_group(workspace_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "workspace": str(workspace_id)})

    @database_sync_to_async
    def _workspace_id(self, user: Any) -> str | None:
        from accounts.selectors import workspace_for_session

        session = self.scope.get("session")
        workspace = workspace_for_session(user=user, session=session)
        return str(workspace.id) if workspace is not None else None

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def envelope_send(self, event: dict[str, Any]) -> None:
        await self.send_json(event["envelope"])
