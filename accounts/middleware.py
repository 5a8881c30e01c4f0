from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from accounts.selectors import workspace_for_session


class CurrentWorkspaceMiddleware:
    """Sets ``request.workspace`` (lazily) to the signed-in user's current workspace or None."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.workspace = SimpleLazyObject(  # type: ignore[attr-defined]
            lambda: workspace_for_session(user=request.user, session=request.session)
        )
        return self.get_response(request)
