"""Settings, driven by the environment (see README "Configuration")."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

from cep.embedded import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL
from core.db_pool import RecentUseCheck

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CEP_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _local_secret_key() -> str:
    """A per-checkout key kept in var/, so sessions survive restarts of `make run`."""
    path = VAR_DIR / "secret-key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or _local_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "guardian",
    "django_htmx",
    "template_partials",
    "core",
    "accounts",
    "audit",
    "profiles",
    "events",
    "scoring",
    "decisions",
    "journeys",
    "delivery",
    "support",
    "insights",
    "cep",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.CurrentWorkspaceMiddleware",
]

ROOT_URLCONF = "cep.urls"
WSGI_APPLICATION = "cep.wsgi.application"
ASGI_APPLICATION = "cep.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.workspace",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
# A connection pool per process (psycopg_pool through Django). Under ASGI every request runs in
# a thread of its own, so persistent per-thread connections (CONN_MAX_AGE) would pile up; the
# pool hands a connection to a request and takes it back when the request ends.
DB_POOL_MAX_SIZE = int(os.environ.get("DB_POOL_MAX_SIZE", "12"))
# Health checks make the pool test a connection on checkout and replace a dead one (server
# restart, terminated backend) instead of failing the request that got it. With the pool, the
# check pings only connections idle for DB_POOL_CHECK_IDLE_SECONDS or whose socket has something
# to read (core/db_pool.py): a connection in steady use costs no extra round trip.
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True, engine="core.postgresql")
}
if DB_POOL_MAX_SIZE > 0:
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        pool={
            "min_size": int(os.environ.get("DB_POOL_MIN_SIZE", "2")),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": float(os.environ.get("DB_POOL_TIMEOUT", "10")),
        },
        pool_check=RecentUseCheck(float(os.environ.get("DB_POOL_CHECK_IDLE_SECONDS", "2"))),
    )
# Server-side prepared statements for the statements run with server-side binding (profiles/sql.py:
# the ingest and decide hot paths; Django's own queries bind client-side and are never prepared):
# psycopg prepares a statement on a connection after it ran this many times there, so PostgreSQL
# stops planning it on every request. Django turns them off by default for transaction-pooling
# proxies (PgBouncer before 1.21); behind such a proxy set DB_PREPARE_THRESHOLD to an empty value.
_prepare_threshold = os.environ.get("DB_PREPARE_THRESHOLD", "5").strip()
DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
    int(_prepare_threshold) if _prepare_threshold else None
)
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME", "test_cep")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cep",
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "cep:ws"},
    }
}

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row; anonymous requests have no object permissions

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it even when serving from finders
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without collectstatic in development
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.SecretKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Proactive CEP API",
    "DESCRIPTION": "Tracking (Segment-compatible), management and decide APIs.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# Celery: reliability first (docs/operations.md explains each setting).
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES_NAMES = ["default", "ingest", "decisions", "training", "delivery"]
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Web workers push after-commit task messages from a thread of their own (core/broker.py): while
# the broker is unreachable they keep up to BROKER_PUSH_BACKLOG messages (oldest dropped first)
# and retry each push for up to BROKER_PUSH_RETRY_SECONDS before giving it up (logged).
BROKER_PUSH_BACKLOG = int(os.environ.get("BROKER_PUSH_BACKLOG", "100000"))
BROKER_PUSH_RETRY_SECONDS = float(os.environ.get("BROKER_PUSH_RETRY_SECONDS", "30"))

# Security. Production (DEBUG=0) is secure by default; each switch can be turned off for a
# TLS-terminating proxy setup or local runs.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Product settings
# Email delivery (delivery/): Django's SMTP backend. `make run` points it at a file outbox under
# var/mail unless EMAIL_HOST is set (see docs/delivery.md).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Proactive CEP <no-reply@localhost>")
DELIVERY_EMAIL_BACKEND = os.environ.get("DELIVERY_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))

DEMO_CREDENTIALS_FILE = VAR_DIR / "demo-credentials.json"
HEALTH_CELERY_TIMEOUT = float(os.environ.get("HEALTH_CELERY_TIMEOUT", "1.0"))

# --- Tracking ingestion, event store and profiles (events/, profiles/; docs/tracking.md, docs/features.md) ---
TRACKING_MAX_MESSAGE_BYTES = 32 * 1024  # per message, as serialised JSON
TRACKING_MAX_BATCH_BYTES = 500 * 1024  # per /v1/batch body, after gzip is undone
TRACKING_MAX_BATCH_MESSAGES = 2500
# Per write key, counted in events over fixed windows (a full batch fits in one window). 0 turns it off.
TRACKING_RATE_LIMIT_PER_SECOND = int(os.environ.get("TRACKING_RATE_LIMIT_PER_SECOND", "1000"))
TRACKING_RATE_LIMIT_WINDOW_SECONDS = int(os.environ.get("TRACKING_RATE_LIMIT_WINDOW_SECONDS", "10"))
# Events older than this (by event time) are deleted daily by events.event_retention_task; 0 keeps them forever.
EVENT_RETENTION_DAYS = int(os.environ.get("EVENT_RETENTION_DAYS", "400"))
EVENT_RETENTION_CHUNK = 5000
# Ingest requests with at least this many new events prepare their features updates before taking
# the identity locks (an extra unlocked read), so the locks are held for less time. Smaller ones
# compute under the locks: the extra read would cost more than it saves.
INGEST_PREPARE_MIN_EVENTS = int(os.environ.get("INGEST_PREPARE_MIN_EVENTS", "10"))
# Single tracking calls waiting at the same moment share one transaction, up to this many (1: never;
# events.coalescing).
INGEST_COALESCE_MAX_EVENTS = int(os.environ.get("INGEST_COALESCE_MAX_EVENTS", "64"))
# /v1/decide calls of different people waiting at the same moment share one transaction, up to this
# many (1: never; decisions.coalescing).
DECISIONS_COALESCE_MAX_CALLS = int(os.environ.get("DECISIONS_COALESCE_MAX_CALLS", "32"))
# core.lean_asgi.LeanASGIApp: threads (and so database connections) per web process for the hot
# machine-to-machine endpoints (/v1/ tracking, decide, outcome).
LEAN_ASGI_THREADS = int(os.environ.get("LEAN_ASGI_THREADS", "8"))
# Golden record: a higher-ranked source wins over a lower one whatever the timestamps.
PROFILE_TRAIT_SOURCE_PRECEDENCE = {"api": 30, "identify": 20, "context": 10}
# Real-time features (docs/features.md).
PROFILE_ORDER_EVENTS = ["Order Completed"]
PROFILE_AFFINITY_HALF_LIFE_DAYS = float(os.environ.get("PROFILE_AFFINITY_HALF_LIFE_DAYS", "7"))
PROFILE_AFFINITY_WEIGHTS = {
    "$page": 0.5,
    "Product List Viewed": 0.5,
    "Product Viewed": 1.0,
    "Product Added": 3.0,
    "Product Added to Wishlist": 2.0,
    "Checkout Started": 3.0,
    "Order Completed": 5.0,
}
PROFILE_AFFINITY_DEFAULT_WEIGHT = 1.0
PROFILE_SESSION_GAP_MINUTES = 30

# --- Scoring (scoring/; docs/models.md) ---
# Label windows: conversion = an order within N days; churn = no activity or a cancellation within N days.
SCORING_CONVERSION_HORIZON_DAYS = 14
SCORING_CONVERSION_POPULATION_DAYS = 90  # training rows: people active within this many days of the cut-off
SCORING_CHURN_HORIZON_DAYS = 30
SCORING_CHURN_POPULATION_DAYS = 30
SCORING_CANCEL_EVENTS = ["Subscription Cancelled", "Account Deleted"]
SCORING_CLV_HOLDOUT_DAYS = 30  # CLV is fitted as of now minus this and checked on the window after
SCORING_CLV_HORIZON_DAYS = 90  # stored CLV and expected purchases are over this many days
# Training sets: cut-offs, size, reproducibility.
SCORING_TRAINING_CUTOFFS = 4
SCORING_CUTOFF_STEP_DAYS = 7
SCORING_MAX_TRAINING_ROWS = 50_000
SCORING_MIN_TRAINING_ROWS = 200
SCORING_MIN_POSITIVES = 20  # of each class
SCORING_EVENT_NAME_FEATURES = 8
SCORING_SEED = int(os.environ.get("SCORING_SEED", "7"))
SCORING_RESPONSE_MIN_ROWS = 200  # logged decisions per action before its response model trains
SCORING_TRAINING_TIME_LIMIT = 3600  # seconds
# Promotion rule: beat the active model (or the naive baseline) on the candidate's held-out rows.
SCORING_PROMOTION_MIN_AUC_GAIN = 0.001
SCORING_PROMOTION_MAX_BRIER_INCREASE = 0.002
SCORING_PROMOTION_CLV_MIN_MAE_GAIN = 0.01
# "score changed" domain event: threshold crossings and relative drops/rises per kind.
SCORING_SCORE_TRIGGERS = [
    {"kind": "conversion", "threshold": 0.5},
    {"kind": "churn", "threshold": 0.7},
    {"kind": "clv", "drop_share": 0.3},
]
SCORING_EXPLAIN_TOP = 3
SCORING_DRIFT_SAMPLE = 2000
# OpenAPI names for the scoring choice sets ("kind" and "status" are also used by other apps).
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    **dict(SPECTACULAR_SETTINGS.get("ENUM_NAME_OVERRIDES") or {}),  # type: ignore[call-overload]
    "ModelKindEnum": "scoring.models.ModelKind.choices",
    "ModelStatusEnum": "scoring.models.ModelStatus.choices",
    "TrainingRunStatusEnum": "scoring.models.RunStatus.choices",
    "TrainingRunTriggerEnum": "scoring.models.RunTrigger.choices",
    # Names for the choice sets that share a field name ("channel", "kind", "status") across apps.
    "ActionChannelEnum": "decisions.models.Channel.choices",
    "ActionKindEnum": "decisions.models.ActionKind.choices",
    "DecisionStatusEnum": "decisions.models.DecisionStatus.choices",
    "OutcomeKindEnum": "decisions.models.OutcomeKind.choices",
    "PolicyStatusEnum": "decisions.models.PolicyStatus.choices",
    "DeliveryChannelEnum": "delivery.models.DeliveryChannel.choices",
    "DeliveryStatusEnum": "delivery.models.DeliveryStatus.choices",
    "ConsentChannelEnum": "profiles.models.ConsentChannel.choices",
    "IdentifierKindEnum": "profiles.models.IdentifierKind.choices",
    "SignalKindEnum": "journeys.models.SignalKind.choices",
    "PlaybookRunStatusEnum": "journeys.models.RunStatus.choices",
    "TicketStatusEnum": "support.models.TicketStatus.choices",
    "LeadStatusEnum": "support.models.LeadStatus.choices",
}
