from __future__ import annotations

from django.urls import path

from decisions import apis

urlpatterns = [
    path("actions/", apis.ActionListCreateApi.as_view(), name="api-actions"),
    path("actions/<slug:key>/", apis.ActionDetailApi.as_view(), name="api-action"),
    path("decisions/", apis.DecisionListApi.as_view(), name="api-decisions"),
    path("decisions/<str:decision_id>/", apis.DecisionDetailApi.as_view(), name="api-decision"),
    path("decisions/<str:decision_id>/replay/", apis.DecisionReplayApi.as_view(), name="api-decision-replay"),
]
