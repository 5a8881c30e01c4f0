"""REST endpoints of the journeys app, mounted under /api/v1/ in cep/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from journeys import apis

urlpatterns: list[URLPattern | URLResolver] = [
    path("signals/", apis.SignalListCreateApi.as_view(), name="api-signals"),
    path("signals/<slug:key>/", apis.SignalDetailApi.as_view(), name="api-signal"),
    path("playbooks/", apis.PlaybookListCreateApi.as_view(), name="api-playbooks"),
    path("playbooks/<slug:key>/", apis.PlaybookDetailApi.as_view(), name="api-playbook"),
    path("playbook-runs/", apis.PlaybookRunListApi.as_view(), name="api-playbook-runs"),
    path("playbook-runs/<uuid:run_id>/", apis.PlaybookRunDetailApi.as_view(), name="api-playbook-run"),
]
