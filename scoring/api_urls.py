"""Management API for models and scores. Mount under /api/v1/ in cep/urls.py:
``path("api/v1/", include("scoring.api_urls"))``."""

from __future__ import annotations

from django.urls import path

from scoring import apis

urlpatterns = [
    path("models/", apis.ModelVersionListApi.as_view(), name="api-models"),
    path("models/train", apis.ModelTrainApi.as_view(), name="api-models-train"),
    path("models/runs/<str:run_id>/", apis.TrainingRunDetailApi.as_view(), name="api-training-run"),
    path("models/<str:version_id>/", apis.ModelVersionDetailApi.as_view(), name="api-model"),
    path("models/<str:version_id>/promote", apis.ModelPromoteApi.as_view(), name="api-model-promote"),
    path("scores/<str:profile_id>/", apis.ProfileScoresApi.as_view(), name="api-profile-scores"),
]
