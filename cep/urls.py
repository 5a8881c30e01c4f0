from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from core.views import healthz
from decisions import urls as decisions_urls
from decisions.apis import DecideApi, OutcomeApi
from events.views import profile_timeline_fragment
from insights.views import decision_lifts_fragment
from scoring.views import profile_scores_fragment

# The decision log's lift panel reads insights' running totals, and decisions may not import
# insights: the route joins the decisions URLs (and their namespace, ``decisions:lifts``) here.
decisions_patterns = [
    path("decisions/lifts/", decision_lifts_fragment, name="lifts"),
    *decisions_urls.urlpatterns,
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("v1/decide", DecideApi.as_view(), name="decide"),
    path("v1/outcome", OutcomeApi.as_view(), name="outcome"),
    path("v1/", include("events.urls")),
    path("api/v1/", include("accounts.api_urls")),
    path("api/v1/", include("profiles.api_urls")),
    path("api/v1/", include("decisions.api_urls")),
    path("api/v1/", include("scoring.api_urls")),
    path("api/v1/", include("journeys.api_urls")),
    path("api/v1/", include("delivery.api_urls")),
    path("api/v1/", include("support.api_urls")),
    path("api/v1/", include("insights.api_urls")),
    path("models/", include("scoring.urls")),
    # Customer pages: the profile's own page, with fragments from the apps above profiles.
    path("customers/<str:profile_id>/scores/", profile_scores_fragment, name="customer-scores"),
    path("customers/<str:profile_id>/timeline/", profile_timeline_fragment, name="customer-timeline"),
    path("", include("profiles.urls")),
    path("", include((decisions_patterns, decisions_urls.app_name))),
    path("", include("journeys.urls")),
    path("", include("delivery.urls")),
    path("", include("support.urls")),
    path("", include("insights.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("core.urls")),
]
