"""The identity graph and the golden record.

A ``Profile`` is one person in a workspace. ``Identifier`` rows (anonymous id, user id,
email, phone, device id, custom) point at the profile they belong to; an identifier belongs to
exactly one profile (unique per workspace, kind and value). When an event shows that two
profiles share an identifier they are merged: the survivor keeps every identifier and the
loser stays behind as a tombstone (``merged_into``) so old ids still resolve.

``ProfileFeatures`` is a 1:1 row with the real-time features (docs/features.md): ``state`` is
the incrementally maintained counters, ``computed`` the feature values as of ``updated_at``.
It lives in its own row so that track events, which rarely touch traits, rewrite only it.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from pgvector.django import HnswIndex, VectorField

from core.fields import JSONTextField
from core.models import WorkspaceScopedModel


class IdentifierKind(models.TextChoices):
    ANONYMOUS_ID = "anonymous_id", "Anonymous id"
    USER_ID = "user_id", "User id"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    DEVICE_ID = "device_id", "Device id"
    CUSTOM = "custom", "Custom"


class ConsentChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PUSH = "push", "Push"
    IN_APP = "in_app", "In-app"


# The customer search's words (docs/console.md): every prefix, up to SEARCH_PREFIX_MAX characters,
# of every word of the email and name traits, lower-cased, words split at anything that is not a
# letter or digit. PostgreSQL functions from migration 0005, so the index below and the query
# (profiles.selectors.customer_search) split text the same way; the embedded PostgreSQL has no
# pg_trgm, and an array GIN index needs no extension.
SEARCH_PREFIX_MAX = 20


def search_prefixes() -> models.Func:
    return models.Func(
        models.F("traits"), function="profile_search_prefixes", output_field=ArrayField(models.TextField())
    )


class Profile(WorkspaceScopedModel):
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    merged_at = models.DateTimeField(null=True, blank=True)
    # traits: {name: value}; trait_meta: {name: {"source": str, "at": iso8601}} (the golden
    # record's provenance: which source set each trait, and the event time it was true at).
    traits = models.JSONField(default=dict, blank=True)
    trait_meta = models.JSONField(default=dict, blank=True)
    # consent: {channel: {"granted": bool, "source": str, "at": iso8601}}
    consent = models.JSONField(default=dict, blank=True)
    # groups (accounts) from group calls: {group_id: {"traits": {...}, "at": iso8601}}
    groups = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["workspace", "-created_at"],
                name="profile_live_by_ws",
                condition=models.Q(merged_into__isnull=True),
            ),
            models.Index(
                fields=["merged_into"], name="profile_merged_into", condition=models.Q(merged_into__isnull=False)
            ),
            # Not partial: the planner takes an expression's statistics (how common a prefix is)
            # only from a whole-table index. Merged-away profiles are few.
            GinIndex(search_prefixes(), name="profile_search"),
        ]

    def __str__(self) -> str:
        return f"profile {self.pk}"

    @property
    def is_merged(self) -> bool:
        return self.merged_into_id is not None

    @property
    def display_name(self) -> str:
        """How people are named on pages and in explanations: name, first + last, email, or a short id."""
        traits = self.traits or {}
        full = " ".join(str(traits[k]) for k in ("first_name", "last_name") if traits.get(k))
        for candidate in (traits.get("name"), full, traits.get("email")):
            if candidate:
                return str(candidate)
        return f"person {str(self.pk)[:8]}"


class Identifier(WorkspaceScopedModel):
    # Indexed only where reads need it: the unique (workspace, kind, value) constraint leads with the
    # workspace and ``identifier_profile`` covers the profile. A single-column workspace index also
    # tempted the planner, with stale statistics, into scanning a whole workspace's identifiers.
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20, choices=IdentifierKind.choices)
    value = models.CharField(max_length=255)
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="identifiers", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "kind", "value"], name="identifier_unique_per_workspace")
        ]
        indexes = [models.Index(fields=["profile"], name="identifier_profile")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class ProfileFeatures(models.Model):
    profile = models.OneToOneField(Profile, on_delete=models.CASCADE, primary_key=True, related_name="features")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    # json, not jsonb: rewritten whole on every batch that touches the person, read whole
    # (core.fields.JSONTextField; insights' rollups read ``computed`` keys with ->>).
    state = JSONTextField(default=dict, blank=True)
    computed = JSONTextField(default=dict, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "profile features"

    def __str__(self) -> str:
        return f"features of {self.profile_id}"


EMBEDDING_DIMENSIONS = 64  # profiles.encoders.EMBEDDING_DIMS


class Item(WorkspaceScopedModel):
    """A product or piece of content people engage with. Fed by track events that carry
    product properties (``product_id``/``sku``, ``name``, ``category``, ...) and by the import
    API; its ``embedding`` is refreshed from the whole catalog (profiles.catalog)."""

    external_id = models.CharField(max_length=255, help_text="product_id, sku or content id from the storefront")
    name = models.CharField(max_length=255, blank=True)
    category = models.CharField(max_length=255, blank=True)
    brand = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True)
    embedded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "external_id"], name="item_unique_per_workspace")]
        indexes = [
            HnswIndex(
                name="item_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            )
        ]

    def __str__(self) -> str:
        return self.name or self.external_id

    @property
    def text(self) -> str:
        return " ".join(part for part in (self.name, self.category, self.brand, self.description) if part)


class ItemEngagement(models.Model):
    """How much a person engaged with an item: a weight decayed to ``last_at`` (half-life
    PROFILE_AFFINITY_HALF_LIFE_DAYS). Not unique per (profile, item): after a merge both rows
    follow the survivor and are summed when read."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="engagements")
    weight = models.FloatField()
    last_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "profile"], name="engagement_by_profile"),
            models.Index(fields=["item"], name="engagement_by_item"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} x {self.item_id}: {self.weight:.2f}"


class ProfileEmbedding(models.Model):
    """A person's taste: the decayed, weighted sum of the embeddings of what they engaged with."""

    profile = models.OneToOneField(Profile, on_delete=models.CASCADE, primary_key=True, related_name="embedding")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    vector = VectorField(dimensions=EMBEDDING_DIMENSIONS)
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            HnswIndex(
                name="profile_embedding_hnsw",
                fields=["vector"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            )
        ]

    def __str__(self) -> str:
        return f"taste of {self.profile_id}"


class SuppressedIdentifier(models.Model):
    """Identifiers of erased people (subject erasure), kept only as a keyed hash so that later
    events for them can be dropped without keeping the value itself."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=IdentifierKind.choices)
    digest = models.CharField(max_length=64, help_text="HMAC-SHA256 of the normalised value")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "kind", "digest"], name="suppressed_identifier_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.digest[:12]}…"
