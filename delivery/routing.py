"""Websocket routes of the delivery app, collected in cep/routing.py."""

from __future__ import annotations

from django.urls import URLPattern, path

from delivery.consumers import InAppConsumer

websocket_urlpatterns: list[URLPattern] = [path("ws/inapp/", InAppConsumer.as_asgi())]
