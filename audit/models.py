from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """Append-only. Each entry hashes its content together with the previous entry's hash in
    the same chain (one chain per workspace, plus one for platform-wide entries), so any edit
    or deletion breaks the chain at that point (see ``audit_verify``)."""

    id = models.BigAutoField(primary_key=True)
    chain = models.CharField(max_length=64, db_index=True)
    seq = models.PositiveBigIntegerField()
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=160)
    action = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=80, blank=True)
    target_id = models.CharField(max_length=80, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # Subject erasure blanks personal values in old entries. The link (prev_hash, hash) is kept,
    # and the erasure's own entry lists the redacted seqs, so the chain still verifies.
    redacted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-seq"]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_chain_seq_unique")]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label}"


class AuditChainHead(models.Model):
    """The last link of each chain, moved on with every append. Without it, deleting the newest
    entries of a chain would leave a shorter chain that still verifies."""

    chain = models.CharField(max_length=64, primary_key=True)
    seq = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.chain} @ {self.seq}"
