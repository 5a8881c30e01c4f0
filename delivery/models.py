"""Webhook endpoints, content blocks, and deliveries with every attempt to send them."""

from __future__ import annotations

from django.db import models

from core.models import WorkspaceScopedModel


class DeliveryChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PUSH = "push", "Push"
    IN_APP = "in_app", "In-app"
    WEBHOOK = "webhook", "Webhook"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    DEAD = "dead", "Dead-lettered"
    BLOCKED = "blocked", "Blocked before send"


class WebhookEndpoint(WorkspaceScopedModel):
    """A receiver of signed webhooks. ``key`` names it for playbooks ("erp"); the SMS and push
    adapters post to the endpoints keyed "sms" and "push" (the provider's webhook)."""

    key = models.SlugField(max_length=60)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, help_text="whsec_<base64>; shown once, kept to sign")
    event_types = models.JSONField(default=list, blank=True, help_text="Event types it receives; empty: all")
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="webhook_endpoint_key_unique")]
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key} -> {self.url}"

    def receives(self, event_type: str) -> bool:
        return self.enabled and (not self.event_types or event_type in self.event_types)


class ContentBlock(WorkspaceScopedModel):
    """Reusable message content with ``{traits.first_name|there}`` placeholders."""

    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    channel = models.CharField(max_length=20, choices=DeliveryChannel.choices)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    link_url = models.CharField(max_length=500, blank=True, help_text="Call to action (in-app button, email link)")
    link_label = models.CharField(max_length=60, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="content_block_key_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Delivery(WorkspaceScopedModel):
    """One message to send, once. ``key`` is the idempotency key (decision id, playbook run and
    step, ...): a retried task or a replayed fact finds the row and never sends twice."""

    key = models.CharField(max_length=200)
    channel = models.CharField(max_length=20, choices=DeliveryChannel.choices)
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    profile = models.ForeignKey("profiles.Profile", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    decision = models.ForeignKey(
        "decisions.Decision", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    event_type = models.CharField(max_length=80, blank=True, help_text="Webhooks: the type in the body")
    target = models.CharField(max_length=500, blank=True, help_text="Address, phone number or URL at send time")
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="Webhook body data / in-app message")
    attempt_count = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=5)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="delivery_once_per_key")]
        indexes = [
            models.Index(fields=["workspace", "status", "-created_at"], name="delivery_by_status"),
            models.Index(fields=["workspace", "profile", "-created_at"], name="delivery_person"),
        ]
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.channel} {self.key} ({self.status})"


class DeliveryAttempt(models.Model):
    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    ok = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="delivery_attempt_number")]
        ordering = ["number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {'ok' if self.ok else self.error or self.status_code}"


class InAppIdentity(WorkspaceScopedModel):
    """The workspace's in-app identity secret (identity verification, as Intercom does it).

    The storefront's server sends ``userHash = hex HMAC-SHA256(secret, userId)`` with the widget;
    the in-app socket accepts a ``userId`` only with a matching hash, so knowing someone's user
    id (and the public write key) is not enough to read their messages. The secret is kept in
    clear, like webhook endpoint secrets: we must compute HMACs with it, so it cannot be hashed.
    """

    secret = models.CharField(max_length=100, help_text="iasec_<random>; shown once, kept to verify user hashes")
    rotated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace"], name="inapp_identity_one_per_workspace")]

    def __str__(self) -> str:
        return f"in-app identity secret of {self.workspace_id}"
