"""LeadHub settings: everything that differs between machines comes from the environment.

Unset, every variable falls back to the embedded default (SQLite in ``var/``, Celery's
filesystem broker, local-memory cache, mail to the console), which is what ``make run``
and ``make test`` use. The README's configuration reference lists each variable.
"""

import os
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

VAR_DIR = Path(env.str("LEADHUB_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Core -------------------------------------------------------------------------------

# Only good for a laptop: check_production_safety() refuses it for any public host.
INSECURE_DEFAULT_SECRET_KEY = "django-insecure-leadhub-local-only-never-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEFAULT_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1", "testserver"}


def check_production_safety(*, secret_key: str, debug: bool, allowed_hosts: list[str]) -> None:
    """Refuse to start a publicly reachable LeadHub with development settings."""
    public_hosts = [h for h in allowed_hosts if h not in LOCAL_HOSTS]
    if not public_hosts:
        return
    if secret_key == INSECURE_DEFAULT_SECRET_KEY or len(secret_key) < 32:
        raise ImproperlyConfigured(
            f"ALLOWED_HOSTS includes public hosts ({', '.join(public_hosts)}) but SECRET_KEY "
            "is unset, the development default, or shorter than 32 characters. Set SECRET_KEY "
            "to a long random value (python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    if debug:
        raise ImproperlyConfigured(
            f"DEBUG is on while ALLOWED_HOSTS includes public hosts ({', '.join(public_hosts)}). "
            "DEBUG pages leak settings and data; turn DEBUG off in production."
        )


check_production_safety(secret_key=SECRET_KEY, debug=DEBUG, allowed_hosts=ALLOWED_HOSTS)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "leadhub",
    "capture",
    "scoring",
    "nurture",
    "pipeline",
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
]

ROOT_URLCONF = "leadhub.urls"
WSGI_APPLICATION = "leadhub.wsgi.application"

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
                "leadhub.context_processors.navigation",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'leadhub.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside the writer,
    # IMMEDIATE takes the write lock at BEGIN so two writers wait instead of
    # deadlocking on a lock upgrade, and the timeout makes them wait rather than fail.
    _db.setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    _db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=300)
    _db["CONN_HEALTH_CHECKS"] = True
    # Server-side prepared statements for the statements that run on every submission
    # (leadhub.db.preparing_cursor): parsing and planning the submission's one statement
    # was more of Postgres' time than running it. Django leaves them off by default for
    # connection poolers in transaction mode that do not keep them (PgBouncer before
    # 1.21, or without max_prepared_statements): set DB_PREPARED_STATEMENTS=0 there.
    # Only those statements are prepared; Django's own queries never are.
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        _db.setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)

# A read replica of the same Postgres for the reads that may lag a little (the funnel
# dashboard and the pipeline's reports): they go to "replica" when DATABASE_REPLICA_URL
# is set (leadhub.db.reporting_db), to "default" otherwise. Tests read it as a mirror of
# default, so the suite sees its own writes there.
if DATABASE_REPLICA_URL := env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    DATABASES["replica"]["CONN_MAX_AGE"] = _db.get("CONN_MAX_AGE", 0)
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "leadhub.User"

# --- Cache (also holds API throttling counters) -----------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "leadhub",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -------------------------------------------------------------------------------

# Django's ModelBackend with each user's permission set cached (leadhub/auth.py).
AUTHENTICATION_BACKENDS = ["leadhub.auth.CachedPermissionsBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Internationalisation ---------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_STORAGE",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"

# --- Email ------------------------------------------------------------------------------

# SMTP and the local backends come from EMAIL_URL (django-environ's schemes); an email
# service through django-anymail from EMAIL_URL=esp://<provider> (amazon_ses, brevo,
# mailgun, mailjet, postmark, sendgrid, sparkpost, …: anymail's backend module names),
# configured by ANYMAIL_<SETTING> variables (ANYMAIL_MAILGUN_API_KEY=… becomes
# ANYMAIL["MAILGUN_API_KEY"]; see anymail's docs for each provider's names).
EMAIL_URL = env.str("EMAIL_URL", default="consolemail://")
if EMAIL_URL.startswith("esp://"):
    _esp = EMAIL_URL.removeprefix("esp://").strip("/")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", _esp):
        raise ImproperlyConfigured(
            f"EMAIL_URL={EMAIL_URL!r}: name the provider as anymail's backend module, "
            "e.g. esp://mailgun or esp://amazon_ses."
        )
    EMAIL_BACKEND = f"anymail.backends.{_esp}.EmailBackend"
    ANYMAIL = {key.removeprefix("ANYMAIL_"): value for key, value in os.environ.items()
               if key.startswith("ANYMAIL_") and value}
else:
    EMAIL_CONFIG = env.email_url_config(EMAIL_URL)
    vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="LeadHub <leadhub@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Seconds an SMTP connection may block. Django's default is none at all; Celery tasks
# send mail while they hold a row lock (so a retried task cannot send twice), and a hung
# server must fail the send (and retry it later) rather than hold that lock.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)

# --- Security (production behind TLS) ---------------------------------------------------

# HTTPS=1 when users reach LeadHub over https (directly or through a proxy): secure
# cookies, redirect plain http, and HSTS.
HTTPS = env.bool("HTTPS", default=False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
# Load balancers and container probes check health over plain http.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Only when a proxy in front sets X-Forwarded-Proto and strips it from clients.
if env.bool("PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)

# --- Celery -----------------------------------------------------------------------------

# The embedded default (no Redis needed). "localhost//" only keeps kombu from warning
# that the URL has no host; the transport uses the folders below.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery-broker"
    for _sub in ("queue", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    # One folder for in and out: producers and consumers must meet in the same place.
    # The control folder (broadcasts such as `celery inspect`) defaults to the cwd.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Longer than any task may run (time limits below), so Redis does not hand an
    # unacknowledged task to a second worker while the first is still on it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_IGNORE_RESULT = True  # progress of long jobs is kept in Postgres, not results
CELERY_TASK_ACKS_LATE = True  # a task killed mid-run is redelivered; tasks are idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 360
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The drip dispatcher has a queue of its own, so a backlog of other tasks (the follow-ups
# of every activity: scoring, triggers) cannot hold its runs until beat's 5 s expiry
# drops them. A worker started without -Q consumes both queues (Redis serves them in
# turn); a deployment can run dedicated dispatch workers with `-Q nurture`.
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Each queue with its own exchange and routing key: two queues bound with the same key
# would both get every message published with it.
CELERY_TASK_QUEUES = tuple(Queue(name, Exchange(name), routing_key=name)
                           for name in ("celery", "nurture"))
CELERY_TASK_ROUTES = {"nurture.tasks.nurture_dispatch": {"queue": "nurture"}}
# When the broker connection drops, acks_late tasks in hand are redelivered elsewhere:
# stop running them here rather than run them twice at once (Celery 6's default).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True

# --- REST API ---------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "leadhub.auth.TokenAuthentication",  # DRF's, one raw statement
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["leadhub.api.ModelPermissions"],
    "DEFAULT_THROTTLE_CLASSES": ["leadhub.api.UserRateThrottle"],  # DRF's, failing open
    "DEFAULT_THROTTLE_RATES": {"user": env.str("API_THROTTLE_RATE", default="1200/minute")},
    "DEFAULT_PAGINATION_CLASS": "leadhub.api.KeysetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "leadhub.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "EXCEPTION_HANDLER": "leadhub.api.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "LeadHub API",
    "DESCRIPTION": (
        "Leads and their activities, forms and their submissions (and the public "
        "submission endpoint), tracking events, scoring rules and settings, drip "
        "sequences and their enrollments, stage transitions, notes and tasks, the board. "
        "Authenticate with `Authorization: Token <key>`; admins create keys under "
        "Settings → API tokens or with `manage.py drf_create_token <username>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Lifecycle stages appear in leads, transitions and the board: one enum, one name.
    "ENUM_NAME_OVERRIDES": {"StageEnum": "capture.models.leads.Stage"},
    # <id:…> (leadhub/converters.py): up to 18 digits; a longer one is an unknown path.
    "PATH_CONVERTER_OVERRIDES": {
        "id": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Logging ----------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- LeadHub ----------------------------------------------------------------------------

# The address people and websites reach LeadHub at (scheme and host, no path): used in
# emails and copy-paste snippets, which are made without a request to take it from.
PUBLIC_URL = env.str("PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")
# Proxies in front of LeadHub whose X-Forwarded-For is believed (IPs or CIDRs): the
# client address for rate limits and the submissions inbox (leadhub/net.py).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# Public form endpoints (capture): rate limits per client address and per form, the
# largest body accepted (413 beyond), and the proof-of-work difficulty in leading zero
# bits (15 ≈ 0.5 s of a browser's time).
FORM_RATE_PER_IP = env.str("FORM_RATE_PER_IP", default="30/minute")
FORM_RATE_PER_FORM = env.str("FORM_RATE_PER_FORM", default="1200/minute")
FORM_MAX_BODY_BYTES = env.int("FORM_MAX_BODY_BYTES", default=65_536)
FORM_POW_DIFFICULTY = env.int("FORM_POW_DIFFICULTY", default=15)
# The tracking endpoint (POST /api/v1/events/ from /t.js): page views accepted per client
# address and per tracking site, and the largest body accepted (413 beyond; also caps
# authenticated custom events).
EVENT_RATE_PER_IP = env.str("EVENT_RATE_PER_IP", default="120/minute")
EVENT_RATE_PER_SITE = env.str("EVENT_RATE_PER_SITE", default="6000/minute")
EVENT_MAX_BODY_BYTES = env.int("EVENT_MAX_BODY_BYTES", default=16_384)
# Days anonymous page views (and visitors never linked to a lead) are kept waiting for
# the visitor to submit a form; older ones are deleted daily.
VISITOR_RETENTION_DAYS = env.int("VISITOR_RETENTION_DAYS", default=180)
# Days a double-opt-in confirmation link stays valid.
OPTIN_LINK_MAX_AGE_DAYS = env.int("OPTIN_LINK_MAX_AGE_DAYS", default=7)
# Phone numbers typed without a country code are read as this region's (ISO code, e.g.
# GB); empty: only numbers with a +country code are normalised.
DEFAULT_PHONE_REGION = env.str("DEFAULT_PHONE_REGION", default="")

# Called with each new Activity by capture.tasks.activity_process, in order, after the
# activity's transaction commits (and again by the outbox sweep if that never ran).
# Each must be idempotent: a retried task calls it twice.
ACTIVITY_HANDLERS: list[str] = [
    # First: links the visitor's earlier page views to the lead (so they are scored) and
    # queues the notification and double-opt-in emails of a form submission.
    "capture.handlers.form_submitted_follow_up",
    # Scoring: points, grade, MQL threshold (after capture, so linked page views count).
    "scoring.handlers.activity_score",
    # Nurture: enroll on triggers, exit on stage/unsubscribe/goal (after scoring, whose
    # score and grade changes arrive as their own activities).
    "nurture.handlers.activity_enroll_and_exit",
]
# How long an activity may wait for its follow-up task before the sweep re-queues it.
ACTIVITY_REDISPATCH_AFTER_SECONDS = env.int("ACTIVITY_REDISPATCH_AFTER_SECONDS", default=120)
# Submissions' follow-up tasks are queued in groups: the ids that arrive within this
# many seconds go as one task (capture/followups.py); 0 queues one task per submission.
FOLLOW_UP_BATCH_SECONDS = env.float("FOLLOW_UP_BATCH_SECONDS", default=0.1)

# Scoring (scoring/README.md). The pipeline function that moves leads to MQL (scoring
# may not import pipeline, so it is named here); empty: scoring promotes nobody.
SCORING_MQL_PROMOTER = env.str("SCORING_MQL_PROMOTER",
                               default="pipeline.services.leads_promote_to_mql")
# Called after each committed full-rescore and decay batch that changed scores or grades
# (those runs record their score_changed / grade_changed activities already processed, so
# ACTIVITY_HANDLERS never see them): each gets ``changes=ScoreChanges``
# (scoring/services/hooks.py). Named here because scoring may not import nurture.
SCORING_RESCORE_HOOKS = env.list("SCORING_RESCORE_HOOKS",
                                 default=["nurture.handlers.leads_rescored"])
# Leads per rescore batch (one transaction each; progress is reported per batch), how
# many workers share one rescore (Celery tasks, or `manage.py rescore` threads; each
# claims batches), and how long one run of the task works before it re-queues itself.
SCORING_RESCORE_BATCH_LEADS = env.int("SCORING_RESCORE_BATCH_LEADS", default=50_000)
SCORING_RESCORE_WORKERS = env.int("SCORING_RESCORE_WORKERS", default=2)
SCORING_RESCORE_TASK_SECONDS = env.int("SCORING_RESCORE_TASK_SECONDS", default=120)
# A queued rescore whose tasks have not started this many seconds after they were sent
# (lost in a broker outage) is sent again, by the next request or the minute's sweep.
SCORING_RESCORE_REDISPATCH_SECONDS = env.int("SCORING_RESCORE_REDISPATCH_SECONDS",
                                             default=300)
if (SCORING_RESCORE_BATCH_LEADS < 1000 or SCORING_RESCORE_WORKERS < 1
        or SCORING_RESCORE_TASK_SECONDS < 1):
    raise ImproperlyConfigured(
        "SCORING_RESCORE_BATCH_LEADS must be at least 1000, SCORING_RESCORE_WORKERS and "
        "SCORING_RESCORE_TASK_SECONDS at least 1."
    )

# Nurture (drip email): due steps claimed per batch (one SMTP connection each), how long
# one dispatcher run keeps claiming batches, and the most emails one recipient domain
# gets per hour (0: no limit; protects the sender's reputation with big providers).
NURTURE_DISPATCH_BATCH = env.int("NURTURE_DISPATCH_BATCH", default=200)
NURTURE_DISPATCH_SECONDS = env.int("NURTURE_DISPATCH_SECONDS", default=30)
NURTURE_DOMAIN_HOURLY_LIMIT = env.int("NURTURE_DOMAIN_HOURLY_LIMIT", default=0)


def _domain_limits(raw: str) -> dict[str, int]:
    """NURTURE_DOMAIN_HOURLY_LIMITS: "gmail.com=500, outlook.com=300": a domain's own
    limit instead of NURTURE_DOMAIN_HOURLY_LIMIT (0: none for that domain)."""
    limits = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        domain, sep, number = item.partition("=")
        domain = domain.strip().lower()
        if not sep or not domain or "@" in domain or not number.strip().isdigit():
            raise ImproperlyConfigured(
                f"NURTURE_DOMAIN_HOURLY_LIMITS: {item!r} is not domain=number "
                "(e.g. gmail.com=500,outlook.com=300).")
        limits[domain] = int(number)
    return limits


NURTURE_DOMAIN_HOURLY_LIMITS = _domain_limits(env.str("NURTURE_DOMAIN_HOURLY_LIMITS",
                                                      default=""))
# A run stops claiming after NURTURE_DISPATCH_SECONDS and then finishes its batch; the
# task's soft time limit (240 s, nurture/tasks.py) must leave room for that batch, or the
# run is killed mid-batch and nothing dispatches until beat queues the next one.
NURTURE_DISPATCH_SECONDS_MAX = 180
if (NURTURE_DISPATCH_BATCH < 1 or not 1 <= NURTURE_DISPATCH_SECONDS <= NURTURE_DISPATCH_SECONDS_MAX
        or NURTURE_DOMAIN_HOURLY_LIMIT < 0):
    raise ImproperlyConfigured(
        "NURTURE_DISPATCH_BATCH must be at least 1, NURTURE_DISPATCH_SECONDS from 1 to "
        f"{NURTURE_DISPATCH_SECONDS_MAX} (a run must end within its task's time limit), "
        "NURTURE_DOMAIN_HOURLY_LIMIT 0 or more."
    )
