"""Websocket routes. Console sockets (dashboards, queues) belong to signed-in users and only
accept same-site origins; the in-app widget's socket is opened by storefront pages on other
origins and authenticates with the workspace write key instead (delivery/consumers.py)."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import URLPattern, URLResolver, path, re_path

from core.consumers import WorkspaceConsumer
from delivery.routing import websocket_urlpatterns as delivery_ws
from insights.routing import websocket_urlpatterns as insights_ws
from journeys.routing import websocket_urlpatterns as journeys_ws
from support.routing import websocket_urlpatterns as support_ws

# Signed-in console users: session authentication and the same-origin check.
console_websocket_urlpatterns: list[URLPattern] = [
    path("ws/workspace/", WorkspaceConsumer.as_asgi()),
    *support_ws,
    *journeys_ws,
    *insights_ws,
]

# Storefront pages on any origin: the consumer authenticates by write key.
storefront_websocket_urlpatterns: list[URLPattern] = [*delivery_ws]

websocket_urlpatterns: list[URLPattern | URLResolver] = [
    *storefront_websocket_urlpatterns,
    re_path(
        r"",
        AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(console_websocket_urlpatterns))),
    ),
]
