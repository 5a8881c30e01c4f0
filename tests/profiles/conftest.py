from __future__ import annotations

from tests.events.conftest import Tracker, tracker, write_key  # noqa: F401 - shared fixtures

__all__ = ["Tracker"]
