"""Process start-up for servers: keep the cyclic garbage collector off long-lived objects.

A web process holds hundreds of thousands of objects that live as long as it does: modules,
classes, settings, URL patterns, the app. CPython's collector still walks them all on each full
(generation 2) collection, which on this platform's web workers paused every request of the
process for 50 to 90 ms every few thousand requests: the tail of the latency percentiles.
``freeze_long_lived`` imports what the first requests would otherwise import (the URL
configuration and every view behind it), finalizes the Celery app (binding every task, about
75 ms, which the first enqueue of each process would otherwise pay), collects once, then
``gc.freeze()``s the survivors so later collections look only at objects made after start-up.
"""

from __future__ import annotations

import gc

from celery import current_app
from django.urls import get_resolver


def freeze_long_lived() -> None:
    get_resolver().url_patterns  # noqa: B018 - imports the URLconf's modules now, not on the first request
    current_app.finalize(auto=True)
    gc.collect()
    gc.freeze()
