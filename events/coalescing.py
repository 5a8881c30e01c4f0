"""Single tracking calls that arrive together are stored together (core.group_commit).

A single ``/v1/track`` call stored on its own costs a transaction: four statements, a commit
(a WAL flush) and the after-commit message, about 4.4 ms of web CPU on the benchmark machine.
The same work for two calls costs 2.1 ms per event, for four 1.2 ms (bench/ingest's mix, in
process). So the single calls of one web process that wait at the same moment share one
``event_batch_ingest``:

- A group holds calls of one workspace, at most ``INGEST_COALESCE_MAX_EVENTS``, and never two
  with the same messageId (the second waits for the next group, where the ledger tells it that
  it is a replay, as it would have alone).
- Each call still gets its own answer: stored, replay, or dropped because the person was erased.

A call made inside a transaction (``atomic``) is never grouped: its event must commit or roll
back with its caller's other writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection

from accounts.models import Workspace
from core.group_commit import GroupCommit
from events.services import IngestResult, event_batch_ingest
from events.validation import Message


@dataclass(frozen=True, eq=False)
class SingleCall:
    workspace: Workspace
    message: Message
    received_at: datetime
    check_erased: bool


def _alone(call: SingleCall) -> IngestResult:
    return event_batch_ingest(
        workspace=call.workspace, messages=[call.message], received_at=call.received_at, check_erased=call.check_erased
    )


def _together(calls: Sequence[SingleCall]) -> list[IngestResult]:
    result = event_batch_ingest(
        workspace=calls[0].workspace,
        messages=[call.message for call in calls],
        received_at=max(call.received_at for call in calls),
        check_erased=any(call.check_erased for call in calls),
    )
    return [result.of_message(call.message.message_id) for call in calls]


def _joins(call: SingleCall, group: Sequence[SingleCall]) -> bool:
    return call.workspace.id == group[0].workspace.id and all(
        call.message.message_id != other.message.message_id for other in group
    )


def single_calls_group_commit() -> GroupCommit[SingleCall, IngestResult]:
    return GroupCommit(name="single tracking calls", together=_together, alone=_alone, joins=_joins)


_coalescer = single_calls_group_commit()  # one per process


def event_ingest_single(
    *, workspace: Workspace, message: Message, received_at: datetime, check_erased: bool = True
) -> IngestResult:
    """Store one validated message, deduplicated by messageId, sharing a transaction with the
    single calls of this process waiting at the same moment (see the module docstring)."""
    call = SingleCall(workspace=workspace, message=message, received_at=received_at, check_erased=check_erased)
    limit = int(settings.INGEST_COALESCE_MAX_EVENTS)
    if limit <= 1 or connection.in_atomic_block:
        return _alone(call)
    return _coalescer.run(call, limit=limit)
