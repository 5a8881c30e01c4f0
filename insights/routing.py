"""Websocket routes of the insights app, collected in cep/routing.py."""

from __future__ import annotations

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
