"""One JSON error shape for every API: {"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


def _flatten(detail: Any) -> Any:
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body: dict[str, Any] = {
            "code": "invalid",
            "message": "The request has invalid fields.",
            "fields": _flatten(exc.detail),
        }
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else "Request failed."
        code = exc.get_codes() if not isinstance(exc.get_codes(), dict | list) else exc.default_code
        body = {"code": str(code), "message": message}
    else:  # Http404 / PermissionDenied converted by DRF
        body = {"code": "error", "message": str(response.data.get("detail", "Request failed."))}
    if response.status_code == status.HTTP_404_NOT_FOUND:
        body = {"code": "not_found", "message": "Not found."}
    response.data = {"error": body}
    return response
