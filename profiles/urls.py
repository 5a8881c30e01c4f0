from __future__ import annotations

from django.urls import path

from profiles import views

app_name = "profiles"

urlpatterns = [
    path("customers/", views.customer_list, name="customers"),
    path("customers/<str:profile_id>/", views.customer_detail, name="customer"),
]
