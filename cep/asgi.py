"""ASGI entry point: HTTP through Django, websockets through Channels under /ws/."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cep.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402 - needs the app registry loaded
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from cep.routing import websocket_urlpatterns  # noqa: E402
from events.asgi import TrackingASGIApp  # noqa: E402

application = ProtocolTypeRouter(
    {
        # /v1/* tracking calls take a lean path (events/asgi.py); everything else is Django.
        "http": TrackingASGIApp(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
