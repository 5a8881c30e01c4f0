"""Polling for tests that wait on another thread or process."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(check: Callable[[], object], *, timeout: float = 30, interval: float = 0.005, what: str = "") -> None:
    """Return as soon as ``check()`` is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}" if what else "timed out")
        time.sleep(interval)
