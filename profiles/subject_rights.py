"""Who holds personal data about a person, so export and erasure reach every table.

profiles cannot import the apps above it (events, decisions, support, delivery, ...), so each
app that stores rows about a person registers its handlers from ``AppConfig.ready``::

    subject_data_register(
        uid="support.tickets",
        export=tickets_export_for_subject,   # (*, workspace, profile_ids) -> JSON-safe list/dict
        erase=tickets_erase_for_subject,     # (*, workspace, profile_ids, identifiers) -> rows touched
    )

``profile_ids`` are the person's live profile and every profile merged into it; ``identifiers``
are the (kind, value) pairs they were known by, so handlers can also scrub values copied into
free-form columns (payloads, rendered content, webhook bodies). Erasure handlers run inside the
erasure's transaction and must delete or anonymise; they must not write audit entries (the
erasure writes one, redacted). The subject-rights service in profiles runs them all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from accounts.models import Workspace

Exporter = Callable[..., Any]
Eraser = Callable[..., int]


@dataclass(frozen=True)
class SubjectDataHandler:
    uid: str
    export: Exporter
    erase: Eraser


_lock = threading.Lock()
_handlers: dict[str, SubjectDataHandler] = {}


def subject_data_register(*, uid: str, export: Exporter, erase: Eraser) -> SubjectDataHandler:
    handler = SubjectDataHandler(uid=uid, export=export, erase=erase)
    with _lock:
        _handlers[uid] = handler
    return handler


def subject_data_handlers() -> list[SubjectDataHandler]:
    with _lock:
        return list(_handlers.values())


def subject_data_export(*, workspace: Workspace, profile_ids: Sequence[UUID]) -> dict[str, Any]:
    return {h.uid: h.export(workspace=workspace, profile_ids=profile_ids) for h in subject_data_handlers()}


def subject_data_erase(
    *, workspace: Workspace, profile_ids: Sequence[UUID], identifiers: Sequence[tuple[str, str]]
) -> dict[str, int]:
    return {
        h.uid: h.erase(workspace=workspace, profile_ids=profile_ids, identifiers=identifiers)
        for h in subject_data_handlers()
    }
