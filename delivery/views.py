"""Delivery pages: deliveries with their attempts, the dead-letter list with retry, and
webhook endpoints (the signing secret is shown once, on creation or rotation)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.request_context import request_workspace
from delivery.forms import WebhookEndpointForm
from delivery.models import DeliveryChannel, DeliveryStatus
from delivery.selectors import (
    can_manage_endpoints,
    can_retry,
    dead_letter_list,
    delivery_get,
    delivery_list,
    endpoint_get,
    endpoint_list,
    inapp_identity_get,
)
from delivery.services import DeliveryError, delivery_retry, endpoint_save, inapp_identity_rotate

PAGE_SIZE = 25


@login_required
def delivery_list_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    filters = {
        "status": request.GET.get("status", "") if request.GET.get("status", "") in DeliveryStatus.values else "",
        "channel": request.GET.get("channel", "") if request.GET.get("channel", "") in DeliveryChannel.values else "",
        "q": request.GET.get("q", "")[:100].strip(),
    }
    rows = delivery_list(
        actor=request.user,
        workspace=workspace,
        status=filters["status"],
        channel=filters["channel"],
        search=filters["q"],
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "filters": filters,
        "query": urlencode({k: v for k, v in filters.items() if v}),
        "statuses": DeliveryStatus.choices,
        "channels": DeliveryChannel.choices,
        "can_retry": can_retry(actor=request.user, workspace=workspace),
        "tab": "all",
    }
    return render(request, "delivery/deliveries.html", context)


@login_required
def dead_letter_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    page = Paginator(dead_letter_list(actor=request.user, workspace=workspace), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"page": page, "can_retry": can_retry(actor=request.user, workspace=workspace), "tab": "dead"}
    return render(request, "delivery/dead_letter.html", context)


@login_required
def delivery_detail_page(request: HttpRequest, delivery_id: str) -> HttpResponse:
    workspace = request_workspace(request)
    delivery = delivery_get(actor=request.user, workspace=workspace, delivery_id=delivery_id)
    context = {
        "delivery": delivery,
        "attempts": delivery.attempts.all(),
        "can_retry": can_retry(actor=request.user, workspace=workspace),
    }
    return render(request, "delivery/delivery.html", context)


@login_required
@require_POST
def delivery_retry_action(request: HttpRequest, delivery_id: str) -> HttpResponse:
    workspace = request_workspace(request)
    delivery = delivery_get(actor=request.user, workspace=workspace, delivery_id=delivery_id, for_retry=True)
    try:
        delivery_retry(workspace=workspace, actor=request.user, delivery=delivery)
    except DeliveryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Retrying {delivery.key}: another {delivery.max_attempts} attempts at most.")
    target = request.POST.get("next", "")
    # Only back to a delivery page: never an address taken from the form elsewhere.
    return redirect(target if target.startswith("/delivery/") else "delivery:dead_letter")


@login_required
def endpoint_list_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    endpoints = endpoint_list(actor=request.user, workspace=workspace)
    return render(request, "delivery/endpoints.html", {"endpoints": endpoints, "tab": "endpoints"})


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_create_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    endpoint_list(actor=request.user, workspace=workspace)  # permission check before showing the form
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = endpoint_save(workspace=workspace, actor=request.user, values=form.values())
        except DeliveryError as exc:
            for field, message in exc.errors.items():
                form.add_error(field if field in form.fields else None, message)
        else:
            return render(request, "delivery/endpoint_secret.html", {"endpoint": endpoint, "secret": secret})
    status = 400 if request.method == "POST" else 200
    return render(request, "delivery/endpoint_form.html", {"form": form, "endpoint": None}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_edit_page(request: HttpRequest, key: str) -> HttpResponse:
    workspace = request_workspace(request)
    endpoint = endpoint_get(actor=request.user, workspace=workspace, key=key)
    form = WebhookEndpointForm(request.POST or None, endpoint=endpoint)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, _ = endpoint_save(
                workspace=workspace, actor=request.user, values=form.values(), endpoint=endpoint
            )
        except DeliveryError as exc:
            for field, message in exc.errors.items():
                form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, f"Saved endpoint “{endpoint.key}”.")
            return redirect("delivery:endpoint", key=endpoint.key)
    status = 400 if request.method == "POST" else 200
    context = {
        "form": form,
        "endpoint": endpoint,
        "can_manage": can_manage_endpoints(actor=request.user, workspace=workspace),
    }
    return render(request, "delivery/endpoint_form.html", context, status=status)


@login_required
@require_POST
def endpoint_rotate_action(request: HttpRequest, key: str) -> HttpResponse:
    workspace = request_workspace(request)
    endpoint = endpoint_get(actor=request.user, workspace=workspace, key=key)
    endpoint, secret = endpoint_save(
        workspace=workspace, actor=request.user, values={}, endpoint=endpoint, rotate_secret=True
    )
    return render(request, "delivery/endpoint_secret.html", {"endpoint": endpoint, "secret": secret, "rotated": True})


@login_required
def inapp_identity_page(request: HttpRequest) -> HttpResponse:
    """Whether in-app identity verification is set up, and how the storefront computes userHash."""
    workspace = request_workspace(request)
    identity = inapp_identity_get(actor=request.user, workspace=workspace)
    return render(request, "delivery/inapp_identity.html", {"identity": identity, "tab": "inapp"})


@login_required
@require_POST
def inapp_identity_rotate_action(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    inapp_identity_get(actor=request.user, workspace=workspace)  # permission check
    identity, secret = inapp_identity_rotate(workspace=workspace, actor=request.user)
    context = {"identity": identity, "secret": secret, "tab": "inapp"}
    return render(request, "delivery/inapp_identity.html", context)
