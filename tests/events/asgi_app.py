"""The project's ASGI app with the lean tracking entry mounted in front of Django, the way
cep/asgi.py is meant to mount it (see events/asgi.py)."""

from __future__ import annotations

from channels.routing import ProtocolTypeRouter

from cep.asgi import application as project_application
from cep.asgi import django_asgi_app
from events.asgi import TrackingASGIApp

application = ProtocolTypeRouter(
    {"http": TrackingASGIApp(django_asgi_app), "websocket": project_application.application_mapping["websocket"]}
)
