"""Rows elsewhere that point at a profile and must follow it when it is merged away.

profiles cannot import the apps above it (events, decisions, ...), so those apps declare
their profile foreign keys here from ``AppConfig.ready``::

    profile_reference_register(model=Decision, field="profile")

On a merge, ``profiles.services`` re-points every registered reference from the merged-away
profiles to the survivor inside the merge's transaction, so readers never see a row pointing
at a tombstone after commit. The model must have a ``workspace`` field (the update is
workspace-filtered, which lets it use a (workspace, profile, ...) index). Work that can wait
belongs in a ``profile.merged`` domain-event subscriber instead (core.domain_events).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True)
class ProfileReference:
    model: type[models.Model]
    field: str

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.field}"

    @property
    def column(self) -> str:
        return self.model._meta.get_field(self.field).attname  # type: ignore[union-attr]


_lock = threading.Lock()
_references: dict[str, ProfileReference] = {}


def profile_reference_register(*, model: type[models.Model], field: str = "profile") -> ProfileReference:
    reference = ProfileReference(model=model, field=field)
    model._meta.get_field(field)  # fail at start-up, not at the first merge
    model._meta.get_field("workspace")
    with _lock:
        _references[reference.label] = reference
    return reference


def profile_references() -> list[ProfileReference]:
    with _lock:
        return list(_references.values())
