"""Pages of the journeys app. Mounted at the site root in cep/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path
from django.views.generic import RedirectView

from journeys import views

app_name = "journeys"

urlpatterns: list[URLPattern | URLResolver] = [
    path("journeys/", RedirectView.as_view(pattern_name="journeys:playbooks"), name="index"),
    path("journeys/signals/", views.signal_list_page, name="signals"),
    path("journeys/signals/new/", views.signal_edit_page, name="signal_new"),
    path("journeys/signals/<slug:key>/", views.signal_edit_page, name="signal"),
    path("journeys/playbooks/", views.playbook_list_page, name="playbooks"),
    path("journeys/playbooks/new/", views.playbook_edit_page, name="playbook_new"),
    path("journeys/playbooks/<slug:key>/", views.playbook_edit_page, name="playbook"),
    path("journeys/playbooks/<slug:key>/runs/", views.playbook_runs_page, name="playbook_runs"),
    path("journeys/runs/<uuid:run_id>/", views.run_detail_page, name="run"),
]
