"""The Celery application. Queues are named by kind of work so they can be scaled apart."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cep.settings")

app = Celery("cep")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "ingest", "decisions", "training", "delivery")]
app.conf.task_routes = {
    "events.*": {"queue": "ingest"},
    "core.domain_event_deliver_task": {"queue": "ingest"},
    "profiles.*": {"queue": "ingest"},
    "scoring.*": {"queue": "training"},
    "decisions.*": {"queue": "decisions"},
    "journeys.*": {"queue": "decisions"},
    "delivery.*": {"queue": "delivery"},
    "support.*": {"queue": "default"},
    "insights.*": {"queue": "default"},
}
# The schedule is built as a plain dict and assigned once below: reading app.conf at import
# time (e.g. item assignment into app.conf.beat_schedule) would load Django settings as soon
# as `cep` is imported, before callers such as bench/ have set DATABASE_URL.
beat_schedule: dict[str, dict[str, Any]] = {}
# Event retention (events/): delete events past EVENT_RETENTION_DAYS, daily at a quiet hour.
beat_schedule["events-retention"] = {
    "task": "events.event_retention_task",
    "schedule": crontab(hour=3, minute=17),
}
# Models (scoring/): retrain daily (a new version goes live only if it beats the active one on
# held-out data) and measure drift of the active models daily.
beat_schedule["scoring-train"] = {
    "task": "scoring.training_schedule_task",
    "schedule": crontab(hour=4, minute=7),
}
beat_schedule["scoring-drift"] = {
    "task": "scoring.drift_schedule_task",
    "schedule": crontab(hour=5, minute=37),
}
# Embeddings (profiles/): refit catalogs whose items lack vectors (refreshes normally follow new items).
beat_schedule["profiles-catalog-embeddings"] = {
    "task": "profiles.catalog_embeddings_schedule_task",
    "schedule": crontab(minute="*/15"),
}
# Decisions (decisions/): close attribution windows so the bandit also learns from silence.
beat_schedule["decisions-attribution-close"] = {
    "task": "decisions.attribution_close_task",
    "schedule": crontab(minute="*/10"),
}
# Approvals (decisions/): expire proposals nobody decided in time (intent fades), and re-rate each
# action's earned autonomy from its track record.
beat_schedule["decisions-approvals-expire"] = {
    "task": "decisions.approvals_expire_task",
    "schedule": crontab(minute="*"),
}
beat_schedule["decisions-trust-evaluate"] = {
    "task": "decisions.trust_evaluate_task",
    "schedule": crontab(minute="*/15"),
}
# Signals (journeys/): absences ("no login for 14 days") have no event to wake them.
beat_schedule["journeys-signals-absence"] = {
    "task": "journeys.signals_absence_task",
    "schedule": crontab(minute=23),
}
# Delivery (delivery/): re-queue attempts whose task was lost (a worker died mid-send).
beat_schedule["delivery-sweep"] = {
    "task": "delivery.deliveries_sweep_task",
    "schedule": crontab(minute="*/5"),
}
# Support (support/): re-rank open tickets as their SLAs approach.
beat_schedule["support-sla-refresh"] = {
    "task": "support.tickets_sla_refresh_task",
    "schedule": crontab(minute="*"),
}
# Insights (insights/): fold the logged decision and activity changes into the page's running
# counts (readers add what is not folded yet, so this only keeps reads short), and re-rank the
# customers for the RFM grid, which the page shows with its time.
beat_schedule["insights-rollups-compact"] = {
    "task": "insights.rollups_compact_task",
    "schedule": crontab(minute="*"),
}
beat_schedule["insights-rfm-refresh"] = {
    "task": "insights.rfm_snapshots_refresh_task",
    "schedule": crontab(minute="*/5"),
}
app.conf.beat_schedule = beat_schedule
app.autodiscover_tasks()
