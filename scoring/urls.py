"""Model registry pages. Mount at /models/ in cep/urls.py: ``path("models/", include("scoring.urls"))``."""

from __future__ import annotations

from django.urls import path

from scoring import views

app_name = "scoring"

urlpatterns = [
    path("", views.models_page, name="models"),
    path("runs/", views.model_runs, name="runs"),
    path("train/", views.model_train, name="train"),
    path("<str:version_id>/", views.model_version_page, name="version"),
    path("<str:version_id>/promote/", views.model_version_promote_view, name="promote"),
    path("<str:version_id>/drift/", views.model_version_drift_view, name="drift"),
]
