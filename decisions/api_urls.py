from __future__ import annotations

from django.urls import path

from audit.apis import AuditEntryListApi
from decisions import apis, approval_apis

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
    path("approvals/", approval_apis.ApprovalListApi.as_view(), name="api-approvals"),
    path("approvals/batch/", approval_apis.ApprovalBatchApi.as_view(), name="api-approvals-batch"),
    path("approvals/<uuid:decision_id>/", approval_apis.ApprovalDetailApi.as_view(), name="api-approval"),
    path(
        "approvals/<uuid:decision_id>/approve/", approval_apis.ApprovalApproveApi.as_view(), name="api-approval-approve"
    ),
    path("approvals/<uuid:decision_id>/reject/", approval_apis.ApprovalRejectApi.as_view(), name="api-approval-reject"),
    path("approvals/<uuid:decision_id>/edit/", approval_apis.ApprovalEditApi.as_view(), name="api-approval-edit"),
    path(
        "approvers/<uuid:membership_id>/categories/",
        approval_apis.ApproverCategoriesApi.as_view(),
        name="api-approver-categories",
    ),
    path("trust/", approval_apis.TrustApi.as_view(), name="api-trust"),
    path("trust/evaluate/", approval_apis.TrustEvaluateApi.as_view(), name="api-trust-evaluate"),
    # The audit trail's API belongs to the audit app; mounted here so no project URL file changes.
    path("audit/", AuditEntryListApi.as_view(), name="api-audit"),
]
