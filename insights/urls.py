"""Pages of the insights app. Mounted at the site root in cep/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from insights import views

app_name = "insights"

urlpatterns: list[URLPattern | URLResolver] = [
    path("insights/", views.insights_page, name="index"),
    path("insights/<slug:chart>.csv", views.insights_csv, name="csv"),
]
