"""Mounted at /v1/ (cep/urls.py). Segment's paths have no trailing slash."""

from __future__ import annotations

from django.urls import path

from events import apis

app_name = "events"

urlpatterns = [
    path("identify", apis.IdentifyApi.as_view(), name="identify"),
    path("track", apis.TrackApi.as_view(), name="track"),
    path("page", apis.PageApi.as_view(), name="page"),
    path("screen", apis.ScreenApi.as_view(), name="screen"),
    path("group", apis.GroupApi.as_view(), name="group"),
    path("alias", apis.AliasApi.as_view(), name="alias"),
    path("batch", apis.BatchApi.as_view(), name="batch"),
]
