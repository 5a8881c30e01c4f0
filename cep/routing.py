from __future__ import annotations

from django.urls import path

from core.consumers import WorkspaceConsumer

websocket_urlpatterns = [
    path("ws/workspace/", WorkspaceConsumer.as_asgi()),
]
