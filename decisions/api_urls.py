from __future__ import annotations

from django.urls import path

from decisions import apis

urlpatterns = [
    path("actions/", apis.ActionListCreateApi.as_view(), name="api-actions"),
    path("actions/<slug:key>/", apis.ActionDetailApi.as_view(), name="api-action"),
    path("decisions/", apis.DecisionListApi.as_view(), name="api-decisions"),
    path("decisions/<str:decision_id>/", apis.DecisionDetailApi.as_view(), name="api-decision"),
    path("decisions/<str:decision_id>/replay/", apis.DecisionReplayApi.as_view(), name="api-decision-replay"),
    path("policies/", apis.PolicyListCreateApi.as_view(), name="api-policies"),
    path("policies/<slug:key>/", apis.PolicyDetailApi.as_view(), name="api-policy"),
    path("policies/<slug:key>/evaluation/", apis.PolicyEvaluationApi.as_view(), name="api-policy-evaluation"),
    path("guardrails/", apis.GuardrailsApi.as_view(), name="api-guardrails"),
]
