"""Management API for profiles. Mount under /api/v1/ in cep/urls.py:
``path("api/v1/", include("profiles.api_urls"))``."""

from __future__ import annotations

from django.urls import path

from profiles import apis

urlpatterns = [
    path("profiles/lookup/", apis.ProfileLookupApi.as_view(), name="api-profile-lookup"),
    path("profiles/<str:profile_id>/", apis.ProfileDetailApi.as_view(), name="api-profile"),
    path("profiles/<str:profile_id>/consent", apis.ProfileConsentApi.as_view(), name="api-profile-consent"),
    path("profiles/<str:profile_id>/similar/", apis.ProfileSimilarApi.as_view(), name="api-profile-similar"),
    path(
        "profiles/<str:profile_id>/recommendations/",
        apis.ProfileRecommendationsApi.as_view(),
        name="api-profile-recommendations",
    ),
    path("items/", apis.ItemListImportApi.as_view(), name="api-items"),
    path("items/<str:external_id>/similar/", apis.ItemSimilarApi.as_view(), name="api-item-similar"),
]

from profiles import privacy_apis  # noqa: E402 - subject rights, kept apart from the profile API

urlpatterns += [
    path("profiles/<str:profile_id>/export/", privacy_apis.SubjectExportApi.as_view(), name="api-profile-export"),
    path("profiles/<str:profile_id>/erase/", privacy_apis.SubjectEraseApi.as_view(), name="api-profile-erase"),
]
