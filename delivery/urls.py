"""Pages of the delivery app. Mounted at the site root in cep/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from delivery import views

app_name = "delivery"

urlpatterns: list[URLPattern | URLResolver] = [
    path("delivery/", views.delivery_list_page, name="deliveries"),
    path("delivery/dead-letter/", views.dead_letter_page, name="dead_letter"),
    path("delivery/webhooks/", views.endpoint_list_page, name="endpoints"),
    path("delivery/webhooks/new/", views.endpoint_create_page, name="endpoint_new"),
    path("delivery/webhooks/<slug:key>/", views.endpoint_edit_page, name="endpoint"),
    path("delivery/webhooks/<slug:key>/rotate/", views.endpoint_rotate_action, name="endpoint_rotate"),
    path("delivery/in-app/", views.inapp_identity_page, name="inapp_identity"),
    path("delivery/in-app/rotate/", views.inapp_identity_rotate_action, name="inapp_identity_rotate"),
    path("delivery/<uuid:delivery_id>/", views.delivery_detail_page, name="delivery"),
    path("delivery/<uuid:delivery_id>/retry/", views.delivery_retry_action, name="delivery_retry"),
]
