from __future__ import annotations

from typing import Any

import pytest

from tests.events.conftest import Tracker, tracker, write_key  # noqa: F401 - shared fixtures

__all__ = ["Tracker", "both_ingest_modes"]


@pytest.fixture(params=[1, 1_000_000], ids=["prepared", "locked"])
def both_ingest_modes(request: pytest.FixtureRequest, settings: Any) -> int:
    """Runs a test twice: every ingest prepares its features updates before taking the identity
    locks (profiles.services._features_prepare), then none does."""
    settings.INGEST_PREPARE_MIN_EVENTS = request.param
    return int(request.param)
