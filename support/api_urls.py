"""REST endpoints of the support app, mounted under /api/v1/ in cep/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from support import apis

urlpatterns: list[URLPattern | URLResolver] = [
    path("tickets/", apis.TicketListCreateApi.as_view(), name="api-tickets"),
    path("tickets/<str:ticket_id>/", apis.TicketDetailApi.as_view(), name="api-ticket"),
    path("tickets/<str:ticket_id>/claim/", apis.TicketClaimApi.as_view(), name="api-ticket-claim"),
    path("tickets/<str:ticket_id>/assign/", apis.TicketAssignApi.as_view(), name="api-ticket-assign"),
    path("tickets/<str:ticket_id>/resolve/", apis.TicketResolveApi.as_view(), name="api-ticket-resolve"),
    path("leads/", apis.LeadListApi.as_view(), name="api-leads"),
]
