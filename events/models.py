"""The event store.

``Event`` is append-only and built to be range-partitioned by ``timestamp`` later without
touching callers (they only use ``events.services`` / ``events.selectors``):

- no other table has a foreign key into it, and its own references (workspace, profile) are
  not enforced by the database (``db_constraint=False``): a partitioned table keeps them
  cheap, and ingestion already guarantees them under the profile row lock (a big batch inserts
  its events with guessed profiles before taking the locks, and corrects them under the locks
  in the same transaction);
- deduplication does not rely on a unique index over the events table (on a partitioned table
  a unique index must include the partition key, and a replay may carry another timestamp).
  It lives in ``ReceivedMessage``, the ledger of (workspace, messageId) pairs, keyed exactly
  by them. First write wins: the ledger insert is ``ON CONFLICT DO NOTHING``.

Indexes: per-person timelines (workspace, profile, timestamp desc), per-name windows
(workspace, type, name, timestamp), and a BRIN index on timestamp for retention.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.indexes import BrinIndex
from django.db import models


class EventType(models.TextChoices):
    IDENTIFY = "identify", "Identify"
    TRACK = "track", "Track"
    PAGE = "page", "Page"
    SCREEN = "screen", "Screen"
    GROUP = "group", "Group"
    ALIAS = "alias", "Alias"


class Event(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, db_constraint=False, related_name="+", db_index=False
    )
    profile = models.ForeignKey(
        "profiles.Profile",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
        db_index=False,
    )
    message_id = models.CharField(max_length=255)
    type = models.CharField(max_length=16, choices=EventType.choices)
    name = models.CharField(max_length=255, blank=True, default="", help_text="track: event; page/screen: name")
    anonymous_id = models.CharField(max_length=255, blank=True, default="")
    user_id = models.CharField(max_length=255, blank=True, default="")
    timestamp = models.DateTimeField(help_text="When it happened: the client's time, corrected for clock skew.")
    original_timestamp = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    traits = models.JSONField(default=dict, blank=True)
    context = models.JSONField(default=dict, blank=True)
    integrations = models.JSONField(default=dict, blank=True)
    extra = models.JSONField(default=dict, blank=True, help_text="groupId, previousId, category, unknown fields")

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "profile", "-timestamp"], name="event_person_timeline"),
            models.Index(fields=["workspace", "type", "name", "timestamp"], name="event_name_window"),
            BrinIndex(fields=["timestamp"], name="event_timestamp_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.name} {self.message_id}"


class ReceivedMessage(models.Model):
    """Dedupe ledger: one row per (workspace, messageId) ever accepted (within retention)."""

    pk = models.CompositePrimaryKey("workspace_id", "message_id")
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, db_constraint=False, related_name="+", db_index=False
    )
    message_id = models.CharField(max_length=255)
    event_id = models.UUIDField(help_text="The stored event (no foreign key: the event store may be partitioned).")
    received_at = models.DateTimeField()

    class Meta:
        indexes = [BrinIndex(fields=["received_at"], name="received_message_brin")]

    def __str__(self) -> str:
        return self.message_id
