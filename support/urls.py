"""Pages of the support app. Mounted at the site root in cep/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from core.views import area

app_name = "support"

urlpatterns: list[URLPattern | URLResolver] = [
    # Placeholder until the agent queue lands.
    path("support/", area, {"slug": "support"}, name="queue"),
]
