"""ASGI entry point: HTTP through Django, websockets through Channels under /ws/."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cep.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 - needs the app registry loaded

from cep.routing import websocket_urlpatterns  # noqa: E402
from core.lean_asgi import LeanASGIApp  # noqa: E402
from core.startup import freeze_long_lived  # noqa: E402
from decisions.asgi import decide_routes  # noqa: E402
from events.asgi import tracking_routes  # noqa: E402

# Origin checks and session authentication are per route group (cep/routing.py).
websocket_app = URLRouter(websocket_urlpatterns)

application = ProtocolTypeRouter(
    {
        # The hot machine-to-machine endpoints (tracking, decide, outcome) take a lean path
        # (core/lean_asgi.py); everything else is Django.
        "http": LeanASGIApp(django_asgi_app, routes=[*tracking_routes(), *decide_routes()]),
        "websocket": websocket_app,
    }
)

freeze_long_lived()  # last: everything above lives as long as the process (core/startup.py)
