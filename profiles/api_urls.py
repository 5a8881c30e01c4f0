"""Management API for profiles. Mount under /api/v1/ in cep/urls.py:
``path("api/v1/", include("profiles.api_urls"))``."""

from __future__ import annotations

from django.urls import path

from profiles import apis

urlpatterns = [
    path("profiles/lookup/", apis.ProfileLookupApi.as_view(), name="api-profile-lookup"),
    path("profiles/<str:profile_id>/", apis.ProfileDetailApi.as_view(), name="api-profile"),
    path("profiles/<str:profile_id>/consent", apis.ProfileConsentApi.as_view(), name="api-profile-consent"),
]
