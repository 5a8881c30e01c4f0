"""The project's ASGI app without the lean path: every request through Django's middleware and
the DRF views, to check both paths answer alike (tests/events/conftest.py ``live_server_url``)."""

from __future__ import annotations

from channels.routing import ProtocolTypeRouter

from cep.asgi import django_asgi_app, websocket_app

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_app})
