"""The Celery application. Queues are named by kind of work so they can be scaled apart."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cep.settings")

app = Celery("cep")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "ingest", "decisions", "training", "delivery")]
app.conf.task_routes = {
    "events.*": {"queue": "ingest"},
    "profiles.*": {"queue": "ingest"},
    "scoring.*": {"queue": "training"},
    "decisions.*": {"queue": "decisions"},
    "journeys.*": {"queue": "decisions"},
    "delivery.*": {"queue": "delivery"},
}
app.conf.beat_schedule = {}
app.autodiscover_tasks()
