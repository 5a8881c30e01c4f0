"""Labelled outcomes for response-propensity models, supplied by the apps that log decisions.

scoring sits below decisions, so it cannot read the decision log itself. The decisions app
registers a provider in its ``AppConfig.ready``::

    from scoring.labels import response_outcomes_register

    response_outcomes_register(decision_outcomes_for_training, uid="decisions.log")

A provider takes a workspace and returns ``LabelledOutcome`` rows: who was shown which action when,
and whether they responded within the attribution window (only decisions whose window has closed).
Until one is registered, or while an action has fewer than ``SCORING_RESPONSE_MIN_ROWS`` logged
decisions, training skips response models and says so; nothing is made up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from accounts.models import Workspace


@dataclass(frozen=True)
class LabelledOutcome:
    profile_id: str
    action: str
    decided_at: datetime  # features are taken as of this moment
    responded: bool


Provider = Callable[[Workspace], Iterable[LabelledOutcome]]

_lock = threading.Lock()
_providers: dict[str, Provider] = {}


def response_outcomes_register(provider: Provider, *, uid: str) -> None:
    with _lock:
        _providers[uid] = provider


def response_outcomes_unregister(uid: str) -> None:
    with _lock:
        _providers.pop(uid, None)


def response_outcomes(workspace: Workspace) -> dict[str, dict[tuple[str, float], int]]:
    """Every registered provider's rows, per action: {action: {(profile id, epoch): responded}}."""
    with _lock:
        providers = list(_providers.values())
    by_action: dict[str, dict[tuple[str, float], int]] = {}
    for provider in providers:
        for row in provider(workspace):
            by_action.setdefault(row.action, {})[(str(row.profile_id), row.decided_at.timestamp())] = int(row.responded)
    return by_action
