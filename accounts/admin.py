from __future__ import annotations

from django.contrib import admin
from guardian.admin import GuardedModelAdmin
from rest_framework_api_key.admin import APIKeyModelAdmin

from accounts.models import Membership, SecretKey, Workspace, WriteKey


@admin.register(Workspace)
class WorkspaceAdmin(GuardedModelAdmin):
    list_display = ["name", "slug", "timezone", "created_at"]
    search_fields = ["name", "slug"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "workspace__name"]


@admin.register(WriteKey)
class WriteKeyAdmin(admin.ModelAdmin):
    list_display = ["workspace", "key", "created_at", "revoked_at"]


@admin.register(SecretKey)
class SecretKeyAdmin(APIKeyModelAdmin):
    list_display: tuple[str, ...] = (*APIKeyModelAdmin.list_display, "workspace")  # type: ignore[assignment]
