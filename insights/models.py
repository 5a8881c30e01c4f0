"""Rollups behind the insights page, so it never scans the event log on a request.

Both tables are kept per *stored* profile (the profile an event was stored under), not per
person: a merge only sets ``merged_into`` on the merged-away profile, and the selectors map a
profile to its person at read time exactly as the event scans did (``COALESCE(merged_into_id,
profile_id)``), so a merge needs no rollup change. Every column is a maximum, so applying the same
events twice (a redelivered ingest notification, a rebuild over live traffic) changes nothing, and
a late event (an old timestamp arriving now) lands in the row it belongs to.

The window of every insights chart is ``[since, now]``, so "did step S in the window" is
"last did S at or after ``since``" and "active in week W of the window" is "active in W, and the
last activity of W is at or after ``since``" (only the week that contains ``since`` can fail
that): the last times are enough for exact counts. See docs/insights.md.
"""

from __future__ import annotations

from django.db import models


class PersonSteps(models.Model):
    """When a stored profile last did each funnel step (``insights.selectors.FUNNEL_STEPS``, in
    order: a page, Product Viewed, Product Added, Checkout Started, Order Completed)."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, db_constraint=False, related_name="+", db_index=False
    )
    profile_id = models.UUIDField()
    step0_at = models.DateTimeField(null=True)
    step1_at = models.DateTimeField(null=True)
    step2_at = models.DateTimeField(null=True)
    step3_at = models.DateTimeField(null=True)
    step4_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "profile_id"], name="insights_steps_profile")]
        # The funnel reads only this index (every cumulative step needs the first one).
        indexes = [
            models.Index(
                fields=["workspace", "step0_at"],
                include=["profile_id", "step1_at", "step2_at", "step3_at", "step4_at"],
                name="insights_steps_window",
            )
        ]

    def __str__(self) -> str:
        return f"funnel steps of {self.profile_id}"


class PersonWeek(models.Model):
    """A week (Monday, UTC) in which a stored profile had a behavioural event (track, page,
    screen), with the last such event's time in that week."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, db_constraint=False, related_name="+", db_index=False
    )
    profile_id = models.UUIDField()
    week = models.DateField()
    last_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "week", "profile_id"], name="insights_week_profile")
        ]
        indexes = [
            # The cohorts read only this index; the second finds a profile's weeks (merges, erasure).
            models.Index(fields=["workspace", "week", "last_at"], include=["profile_id"], name="insights_week_window"),
            models.Index(fields=["workspace", "profile_id"], name="insights_week_person"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} active in week {self.week}"


class Customer(models.Model):
    """The RFM inputs of a live profile with at least one order, copied from its real-time
    features (``ProfileFeatures.computed``: ``last_order_at``, ``orders_total``,
    ``revenue_total``) whenever ingestion writes them, so the RFM grid sorts plain columns
    instead of reading every profile's features document."""

    profile_id = models.UUIDField(primary_key=True)
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, db_constraint=False, related_name="+", db_index=False
    )
    last_order_at = models.DateTimeField()
    orders = models.IntegerField()
    revenue = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "last_order_at"], include=["orders", "revenue"], name="insights_rfm")
        ]

    def __str__(self) -> str:
        return f"RFM inputs of {self.profile_id}"


class DecisionArm(models.Model):
    """Running totals of the decision log for the lift and reward comparisons: per action chosen
    (never empty), policy and arm (shown: status acted or approved; held out; other: any other
    status, so an action only ever pending or shadowed is still listed), the decisions, those with
    a conversion, and the sum and sum of squares of each decision's summed attributed reward.

    Kept by PostgreSQL triggers on the decision and outcome tables (migration 0006), so every
    write path (the engine, approvals, attribution, imports, erasure) keeps them exact in the same
    transaction. Each decision's totals go to one of ``ARM_SHARDS`` rows (by its id), so
    concurrent decisions for the same action rarely wait on the same row."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, db_constraint=False, related_name="+", db_index=False
    )
    chosen_key = models.CharField(max_length=60)
    policy_key = models.CharField(max_length=60)
    arm = models.CharField(max_length=8, help_text="shown (acted, approved), held_out, or other (any other status)")
    shard = models.SmallIntegerField()
    decisions = models.BigIntegerField(default=0)
    conversions = models.BigIntegerField(default=0)
    reward_sum = models.FloatField(default=0)
    reward_squares = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "chosen_key", "policy_key", "arm", "shard"], name="insights_arm_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.chosen_key}/{self.policy_key} {self.arm} #{self.shard}"


ARM_SHARDS = 16


class DecisionReward(models.Model):
    """What a decision currently adds to its ``DecisionArm`` row beyond being counted: the sum of
    its outcomes' rewards and whether one is a conversion (only decisions with outcomes have a
    row). The triggers read it to take a decision's old totals out when its outcomes or its arm
    change."""

    decision_id = models.UUIDField(primary_key=True)
    reward = models.FloatField()
    converted = models.BooleanField()

    def __str__(self) -> str:
        return f"reward of {self.decision_id}"
