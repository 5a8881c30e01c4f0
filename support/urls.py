"""Pages of the support app. Mounted at the site root in cep/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from support import views

app_name = "support"

urlpatterns: list[URLPattern | URLResolver] = [
    path("support/", views.queue_page, name="queue"),
    path("support/agents/", views.agents_page, name="agents"),
    path("support/tickets/new/", views.ticket_new_page, name="ticket_new"),
    path("support/tickets/<str:ticket_id>/", views.ticket_page, name="ticket"),
    path("support/tickets/<str:ticket_id>/claim/", views.ticket_claim_view, name="ticket_claim"),
    path("support/tickets/<str:ticket_id>/assign/", views.ticket_assign_view, name="ticket_assign"),
    path("support/tickets/<str:ticket_id>/resolve/", views.ticket_resolve_view, name="ticket_resolve"),
    path("sales/", views.sales_page, name="sales"),
    path("sales/leads/<str:lead_id>/close/", views.lead_close_view, name="lead_close"),
]
