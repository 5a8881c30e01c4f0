"""/v1/decide calls that arrive together are decided in one transaction (core.group_commit).

Each decision still loads its own person (under their decision lock), runs the engine with its
own seed and gets its own answer; what the calls waiting at the same moment share is the
transaction around them: BEGIN and COMMIT, one insert for all their decisions and one broker
round trip for all their "decision made" facts (``decisions.services.decisions_make_together``).

A group holds calls of one workspace for different people, at most
``DECISIONS_COALESCE_MAX_CALLS``: a second call for the same person waits for the next group, so
it sees the first one's decision, as it would have alone. A call made inside a transaction
(``atomic``) is never grouped.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import connection

from accounts.models import Workspace
from core.group_commit import GroupCommit
from decisions.models import Decision
from decisions.services import DecisionRequest, decision_make, decisions_make_together
from profiles.models import Profile


def _alone(request: DecisionRequest) -> Decision:
    return decision_make(
        workspace=request.workspace, profile=request.profile, context=request.context, only=request.only
    )


def _together(requests: Sequence[DecisionRequest]) -> list[Decision]:
    return decisions_make_together(requests=requests)


def _joins(request: DecisionRequest, group: Sequence[DecisionRequest]) -> bool:
    return request.workspace.id == group[0].workspace.id and all(
        request.profile.id != other.profile.id for other in group
    )


def decide_calls_group_commit() -> GroupCommit[DecisionRequest, Decision]:
    return GroupCommit(name="decide calls", together=_together, alone=_alone, joins=_joins)


_coalescer = decide_calls_group_commit()  # one per process


def decision_make_coalesced(
    *, workspace: Workspace, profile: Profile, context: Mapping[str, Any], only: Sequence[str] | None = None
) -> Decision:
    """``decision_make`` for an API call (the live policy), sharing a transaction with the decide
    calls of this process waiting at the same moment (see the module docstring)."""
    request = DecisionRequest(
        workspace=workspace, profile=profile, context=context, only=only, started=time.perf_counter()
    )
    limit = int(settings.DECISIONS_COALESCE_MAX_CALLS)
    if limit <= 1 or connection.in_atomic_block:
        return _alone(request)
    return _coalescer.run(request, limit=limit)
