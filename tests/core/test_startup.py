"""Server start-up freezes long-lived objects out of the garbage collector's sight."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, sys
import cep.asgi
from celery import current_app
frozen = gc.get_freeze_count()
view_modules = [name for name in sys.modules if name.endswith(".views")]
print(frozen, len(view_modules), int(current_app.finalized))
"""


def test_importing_the_asgi_app_freezes_what_it_loaded_including_the_views_and_celery_tasks() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], check=True, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    frozen, views, finalized = (int(part) for part in result.stdout.split())
    assert frozen > 50_000  # modules, classes, URL patterns: the bulk of a web process
    assert views >= 5  # the URLconf's views were imported before the freeze, not on the first request
    assert finalized == 1  # the Celery app's tasks are bound: the first enqueue does not pay for it
