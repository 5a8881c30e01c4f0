"""Catalog pages. Mounted at the site root in cep/urls.py, which adds the decision log's lift panel
(``decisions:lifts``, served by insights from its running totals)."""

from __future__ import annotations

from django.urls import path

from audit import views as audit_views
from decisions import approval_views, views

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
    path("policies/<slug:key>/status/", views.policy_status_change, name="policy_status"),
    path("policies/<slug:key>/evaluation/", views.policy_evaluation_page, name="policy_evaluation"),
    path("policies/<slug:key>/evaluation/results/", views.policy_evaluation_results, name="policy_evaluation_results"),
    path("guardrails/", views.guardrails_page, name="guardrails"),
    path("decisions/", views.decision_log_page, name="log"),
    path("decisions/live/", views.decision_live_page, name="live"),
    path("decisions/live/rows/", views.decision_live_rows, name="live_rows"),
    path("decisions/today/", views.dashboard_feed_fragment, name="feed"),
    path("customers/<str:profile_id>/decisions/", views.customer_decisions_fragment, name="customer_decisions"),
    path("customers/<str:profile_id>/next/", views.customer_next_fragment, name="customer_next"),
    path("approvals/", approval_views.approvals_page, name="approvals"),
    path("approvals/batch/", approval_views.approvals_batch_view, name="approvals_batch"),
    path("approvals/<uuid:decision_id>/approve/", approval_views.approval_approve_view, name="approval_approve"),
    path("approvals/<uuid:decision_id>/reject/", approval_views.approval_reject_view, name="approval_reject"),
    path("approvals/<uuid:decision_id>/edit/", approval_views.approval_edit_view, name="approval_edit"),
    path("trust/", approval_views.trust_page, name="trust"),
    path("trust/evaluate/", approval_views.trust_evaluate_view, name="trust_evaluate"),
    # The audit explorer belongs to the audit app; it is mounted here so no project URL file changes.
    path("audit/", audit_views.audit_explorer_page, name="audit"),
]
