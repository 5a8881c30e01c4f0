"""Rollups behind the insights page, so it never scans the event log, and no chart reads a row
per person or per decision of its window, on a request. See docs/insights.md.

``PersonSteps`` and ``PersonWeek`` are kept per *stored* profile (the profile an event was stored
under), not per person: a merge only sets ``merged_into`` on the merged-away profile, and the
selectors map a profile to its person at read time exactly as the event scans did
(``COALESCE(merged_into_id, profile_id)``), so a merge needs no rollup change. Every column is a
maximum, so applying the same events twice (a redelivered ingest notification, a rebuild over live
traffic) changes nothing, and a late event (an old timestamp arriving now) lands in the row it
belongs to. The window of the funnel is ``[since, now]``, so "did step S in the window" is "last
did S at or after ``since``"; the cohorts count the whole weeks the window touches.

The running counts over them (``CohortPair`` over ``PersonWeek``; ``DecisionCount`` and
``LatencyCount`` over the decision log) are fed by PostgreSQL triggers that append to a change log
(``PersonWeekChange``, ``DecisionChange``): appending takes no lock another writer waits for, a
beat task folds the logs in every minute, and readers add what is still in them, so every read is
exact. ``DecisionArm`` is kept by triggers in the writer's transaction; ``RfmSnapshot`` is
recomputed by beat.
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
    screen), with the last such event's time in that week. Rows are inserted and deleted, never
    moved to another profile or week (a trigger refuses it): ``CohortPair`` follows them."""

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


class CohortPair(models.Model):
    """The cohort chart's counts, folded in from ``PersonWeekChange`` (migration 0009, and
    ``insights.services.cohort_pairs_compact``): stored profiles active in week ``first_week``
    and again in ``week`` (``first_week <= week <= first_week + 13 weeks``), by ``gap``: the
    weeks back to their previous active week before ``first_week`` (1 to 13), 0 when there was
    none in the 13 weeks before.

    A person is in the cohort of week C of a window starting in week S (``C >= S``) when C is
    their first active week from S on, that is when they were active in C and their previous
    active week is before S: ``gap = 0 or first_week - 7 * gap < S``. Windows are at most 13
    weeks back (90 days), so pairs further apart, and previous weeks further back, are never
    needed. See ``insights.selectors.cohort_retention``."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, db_constraint=False, related_name="+", db_index=False
    )
    first_week = models.DateField()
    week = models.DateField()
    gap = models.SmallIntegerField()
    people = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "first_week", "week", "gap"], include=["people"], name="insights_cohort_pair"
            )
        ]

    def __str__(self) -> str:
        return f"{self.people} first in {self.first_week} (gap {self.gap}), active in {self.week}"


class PersonWeekChange(models.Model):
    """A ``PersonWeek`` row inserted (``added``) or deleted, appended by PostgreSQL triggers
    (migration 0009) for ``CohortPair``: ``cohort_pairs_compact`` (beat, every minute) folds the
    changes of each person into the pair counts, and readers add the ones still here. No locks:
    a person's change and its table row commit together, so one statement sees both or neither."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, db_constraint=False, related_name="+", db_index=False
    )
    profile_id = models.UUIDField()
    week = models.DateField()
    added = models.BooleanField()

    class Meta:
        indexes = [models.Index(fields=["workspace", "profile_id"], name="insights_weekchange_person")]

    def __str__(self) -> str:
        return f"{self.profile_id} {'active' if self.added else 'no longer active'} in week {self.week}"


class DecisionChange(models.Model):
    """A decision as the allocation and latency rollups count it (status not a dry run), added
    (``sign`` 1) or taken away (-1): written by a PostgreSQL trigger on every insert, delete and
    relevant update of the decision log (migration 0009), append-only so concurrent decisions never
    wait on a shared counter row. ``decision_rollups_compact`` (beat, every minute) folds them into
    ``DecisionCount`` and ``LatencyCount``; readers add the ones still here."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, db_constraint=False, related_name="+", db_index=False
    )
    created_at = models.DateTimeField()
    chosen_key = models.CharField(max_length=60)
    latency_ms = models.FloatField()
    sign = models.SmallIntegerField()

    class Meta:
        indexes = [models.Index(fields=["workspace", "created_at"], name="insights_change_window")]

    def __str__(self) -> str:
        return f"{self.sign:+d} {self.chosen_key or 'nothing'} at {self.created_at}"


class Period(models.TextChoices):
    HOUR = "hour", "Hour"
    DAY = "day", "Day"


class DecisionCount(models.Model):
    """Decisions (not dry runs) per action chosen ("" for nothing) per UTC hour and per UTC day."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, db_constraint=False, related_name="+", db_index=False
    )
    period = models.CharField(max_length=4, choices=Period.choices)
    start = models.DateTimeField()
    chosen_key = models.CharField(max_length=60)
    decisions = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "period", "start", "chosen_key"],
                include=["decisions"],
                name="insights_decision_count",
            )
        ]

    def __str__(self) -> str:
        return f"{self.decisions} x {self.chosen_key or 'nothing'} in the {self.period} of {self.start}"


class LatencyCount(models.Model):
    """Decisions (not dry runs) per whole millisecond of logged latency (``floor(latency_ms)``)
    per UTC hour and per UTC day: the latency histogram, and where each percentile lies."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, db_constraint=False, related_name="+", db_index=False
    )
    period = models.CharField(max_length=4, choices=Period.choices)
    start = models.DateTimeField()
    ms = models.IntegerField()
    decisions = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "period", "start", "ms"], include=["decisions"], name="insights_latency_count"
            )
        ]

    def __str__(self) -> str:
        return f"{self.decisions} at {self.ms} ms in the {self.period} of {self.start}"


class RfmSnapshot(models.Model):
    """The RFM grid as computed at ``computed_at`` (``insights.services.rfm_snapshot_refresh``, by
    beat every few minutes): ranking every customer is a whole-table sort, so the page reads this
    and says how old it is."""

    workspace = models.OneToOneField(
        "accounts.Workspace", on_delete=models.CASCADE, primary_key=True, db_constraint=False, related_name="+"
    )
    computed_at = models.DateTimeField()
    customers = models.IntegerField()
    cells = models.JSONField(help_text="[[recency, frequency, people, mean revenue], ...]")

    def __str__(self) -> str:
        return f"RFM of {self.workspace_id} as of {self.computed_at}"
