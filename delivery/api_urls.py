"""REST endpoints of the delivery app, mounted under /api/v1/ in cep/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from delivery import apis

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhook-endpoints/", apis.WebhookEndpointListCreateApi.as_view(), name="api-webhook-endpoints"),
    path("webhook-endpoints/<slug:key>/", apis.WebhookEndpointDetailApi.as_view(), name="api-webhook-endpoint"),
    path(
        "webhook-endpoints/<slug:key>/rotate-secret/",
        apis.WebhookEndpointRotateApi.as_view(),
        name="api-webhook-endpoint-rotate",
    ),
    path("content-blocks/", apis.ContentBlockListCreateApi.as_view(), name="api-content-blocks"),
    path("content-blocks/<slug:key>/", apis.ContentBlockDetailApi.as_view(), name="api-content-block"),
    path("deliveries/", apis.DeliveryListApi.as_view(), name="api-deliveries"),
    path("deliveries/dead-letter/", apis.DeadLetterListApi.as_view(), name="api-deliveries-dead-letter"),
    path("deliveries/<str:delivery_id>/", apis.DeliveryDetailApi.as_view(), name="api-delivery"),
    path("deliveries/<str:delivery_id>/retry/", apis.DeliveryRetryApi.as_view(), name="api-delivery-retry"),
]
