"""Pages of the insights app. Mounted at the site root in cep/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from core.views import area

app_name = "insights"

urlpatterns: list[URLPattern | URLResolver] = [
    # Placeholder until the insights pages land.
    path("insights/", area, {"slug": "insights"}, name="index"),
]
