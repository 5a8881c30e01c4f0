from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/keys/", views.keys_page, name="keys"),
    path("settings/keys/create/", views.key_create, name="key_create"),
    path("settings/keys/<str:prefix>/revoke/", views.key_revoke, name="key_revoke"),
    path("settings/members/", views.members_page, name="members"),
    path("workspaces/switch/", views.workspace_switch, name="workspace_switch"),
]
