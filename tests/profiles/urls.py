"""The project's URLs plus the profiles management API, until cep/urls.py mounts
``profiles.api_urls`` under /api/v1/ itself (then this adds nothing)."""

from __future__ import annotations

from django.urls import include, path

from cep.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("api/v1/", include("profiles.api_urls")), *project_urlpatterns]
