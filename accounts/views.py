from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.forms import SecretKeyCreateForm, SecretKeyRevokeForm
from accounts.request_context import request_workspace
from accounts.selectors import (
    SESSION_WORKSPACE_KEY,
    member_list,
    secret_key_get,
    secret_key_list,
    workspace_require,
    workspaces_for_user,
    write_key_active,
)
from accounts.services import secret_key_create, secret_key_revoke


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    workspace_require(actor=request.user, workspace=workspace)
    return render(request, "accounts/settings.html", {"write_key": write_key_active(workspace=workspace)})


@login_required
def keys_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    keys = secret_key_list(actor=request.user, workspace=workspace)
    return render(
        request,
        "accounts/keys.html",
        {"keys": keys, "form": SecretKeyCreateForm(), "write_key": write_key_active(workspace=workspace)},
    )


@login_required
@require_POST
def key_create(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    keys = secret_key_list(actor=request.user, workspace=workspace)
    form = SecretKeyCreateForm(request.POST)
    created = None
    if form.is_valid():
        key, plaintext = secret_key_create(workspace=workspace, name=form.cleaned_data["name"], actor=request.user)
        created = {"key": key, "plaintext": plaintext}
        form = SecretKeyCreateForm()
    context = {"keys": keys, "form": form, "created": created, "write_key": write_key_active(workspace=workspace)}
    template = "accounts/keys.html#keys-panel" if request.htmx else "accounts/keys.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=200 if created or not form.errors else 422)


@login_required
@require_POST
def key_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    workspace = request_workspace(request)
    key = secret_key_get(actor=request.user, workspace=workspace, prefix=prefix)
    form = SecretKeyRevokeForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    secret_key_revoke(key=key, actor=request.user, reason=reason)
    if request.htmx:  # type: ignore[attr-defined]
        context = {
            "keys": secret_key_list(actor=request.user, workspace=workspace),
            "form": SecretKeyCreateForm(),
            "write_key": write_key_active(workspace=workspace),
        }
        return render(request, "accounts/keys.html#keys-panel", context)
    messages.success(request, f"Key {key.prefix} revoked.")
    return redirect("accounts:keys")


@login_required
def members_page(request: HttpRequest) -> HttpResponse:
    members = member_list(actor=request.user, workspace=request_workspace(request))
    return render(request, "accounts/members.html", {"members": members})


@login_required
@require_POST
def workspace_switch(request: HttpRequest) -> HttpResponse:
    wanted = request.POST.get("workspace", "")
    if workspaces_for_user(user=request.user).filter(id=wanted).exists():
        request.session[SESSION_WORKSPACE_KEY] = wanted
    else:
        messages.error(request, "You are not a member of that workspace.")
    return redirect("core:dashboard")
