from __future__ import annotations

from django.urls import path

from profiles import views

app_name = "profiles"

urlpatterns = [
    path("customers/", views.customer_list, name="customers"),
    path("customers/<str:profile_id>/", views.customer_detail, name="customer"),
]

from profiles import privacy_views  # noqa: E402 - subject rights pages, kept apart from the customer pages

urlpatterns += [
    path("customers/<str:profile_id>/privacy/", privacy_views.customer_privacy, name="customer-privacy"),
    path(
        "customers/<str:profile_id>/privacy/export/",
        privacy_views.customer_privacy_export,
        name="customer-privacy-export",
    ),
    path(
        "customers/<str:profile_id>/privacy/erase/", privacy_views.customer_privacy_erase, name="customer-privacy-erase"
    ),
]
