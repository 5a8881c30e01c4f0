"""REST endpoints of the support app, mounted under /api/v1/ in cep/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
