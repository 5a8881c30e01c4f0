"""Catalog pages. Mounted at the site root in cep/urls.py: ``path("", include("decisions.urls"))``."""

from __future__ import annotations

from django.urls import path

from core.views import area
from decisions import views

app_name = "decisions"

urlpatterns = [
    path("actions/", views.action_list_page, name="actions"),
    path("actions/new/", views.action_create_page, name="action_new"),
    path("actions/<slug:key>/", views.action_edit_page, name="action"),
    path("actions/<slug:key>/toggle/", views.action_toggle, name="action_toggle"),
    path("actions/<slug:key>/versions/", views.action_versions_page, name="action_versions"),
    path("policies/", views.policy_list_page, name="policies"),
    path("policies/new/", views.policy_create_page, name="policy_new"),
    path("policies/<slug:key>/", views.policy_edit_page, name="policy"),
    path("policies/<slug:key>/versions/", views.policy_versions_page, name="policy_versions"),
    path("policies/<slug:key>/evaluation/", views.policy_evaluation_page, name="policy_evaluation"),
    path("policies/<slug:key>/evaluation/results/", views.policy_evaluation_results, name="policy_evaluation_results"),
    path("guardrails/", views.guardrails_page, name="guardrails"),
    path("decisions/", views.decision_log_page, name="log"),
    # Placeholder until the approvals queue lands (decisions/approval_views.py).
    path("approvals/", area, {"slug": "approvals"}, name="approvals"),
]
