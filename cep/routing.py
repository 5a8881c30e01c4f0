from __future__ import annotations

from django.urls import URLPattern, path

from core.consumers import WorkspaceConsumer
from delivery.routing import websocket_urlpatterns as delivery_ws
from insights.routing import websocket_urlpatterns as insights_ws
from journeys.routing import websocket_urlpatterns as journeys_ws
from support.routing import websocket_urlpatterns as support_ws

websocket_urlpatterns: list[URLPattern] = [
    path("ws/workspace/", WorkspaceConsumer.as_asgi()),
    *delivery_ws,
    *support_ws,
    *journeys_ws,
    *insights_ws,
]
