"""emitrun settings: one module, read from environment variables.

With nothing set the app runs on its embedded default (SQLite in WAL mode, an
in-memory channel layer, Celery on the filesystem transport). DATABASE_URL and
REDIS_URL switch to PostgreSQL and Redis, which is what production and the test
suite use. docs/configuration.md lists every variable.
"""

import ipaddress
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from emitrun.env import env_bool, env_float, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("EMITRUN_DATA_DIR", str(BASE_DIR / "db")))

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once per installation.

    Every node of a multi-node deployment must be given the same SECRET_KEY.
    """
    key = env_secret("SECRET_KEY")
    if key:
        return key
    path = DATA_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.touch(mode=0o600)
    path.write_text(key)
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Base URL of the dashboard, used in links sent to Slack and in emails.
EMITRUN_PUBLIC_URL = env_str("EMITRUN_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_htmx",
    "template_partials",
    "orgs",
    "spaces",
    "jobs",
    "notifications",
]

MIDDLEWARE = [
    "emitrun.middleware.RequestIdMiddleware",
    "emitrun.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "emitrun.middleware.BrowserMiddleware",  # BROWSER_MIDDLEWARE, for paths outside /api/
]
# The dashboard's middleware, in this order; the token-authenticated API uses none of it.
BROWSER_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]
# The admin's checks look for sessions, auth and messages in MIDDLEWARE itself; they run
# from BROWSER_MIDDLEWARE for every path the admin has (tests/test_middleware.py).
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]

ROOT_URLCONF = "emitrun.urls"
WSGI_APPLICATION = "emitrun.wsgi.application"
ASGI_APPLICATION = "emitrun.asgi.application"
APPEND_SLASH = False  # API paths have no trailing slash, and clients do not follow redirects

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
                "orgs.context.navigation",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
DB_POOL_MAX = env_int("DB_POOL_MAX", 20, minimum=0)
DB_CONNECT_TIMEOUT = env_int("DB_CONNECT_TIMEOUT", 5, minimum=1)
# Longest wait for a pooled connection; past it the request answers 503 (database down).
DB_POOL_TIMEOUT = env_float("DB_POOL_TIMEOUT", 5.0, minimum=0.5)
# A pooled connection idle longer than this is checked with a round trip before use;
# one back in the pool more recently is handed out as is (emitrun/dbpool.py).
DB_POOL_CHECK_AFTER = env_float("DB_POOL_CHECK_AFTER", 1.0, minimum=0)
# A statement run this many times on one connection is prepared there: PostgreSQL then
# neither parses nor plans it again, which on the hot path cost more than running it.
# 0 turns preparing off, for a pooler that cannot keep prepared statements between
# transactions (PgBouncer in transaction mode before 1.21).
DB_PREPARE_THRESHOLD = env_int("DB_PREPARE_THRESHOLD", 5, minimum=0)


def _database() -> dict:
    if not DATABASE_URL:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "emitrun.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so read-then-write
                # transactions queue instead of failing with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    db = dj_database_url.parse(DATABASE_URL)
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL")
    options = db.setdefault("OPTIONS", {})
    options["connect_timeout"] = DB_CONNECT_TIMEOUT
    # Parameters travel apart from the statement, and a statement run a few times on a
    # connection is prepared (psycopg's prepare_threshold): PostgreSQL then skips parsing
    # and planning the hot path's fixed statements (docs/performance.md).
    options["server_side_binding"] = True
    options["prepare_threshold"] = DB_PREPARE_THRESHOLD or None  # Django's default: never
    db["ENGINE"] = "emitrun.db"  # Django's backend, pooled connections checked cheaper
    if DB_POOL_MAX:
        # psycopg's pool: ASGI and threaded servers reuse connections instead of
        # opening one per request. CONN_MAX_AGE must stay 0 with a pool.
        options["pool"] = {
            "min_size": 1,
            "max_size": DB_POOL_MAX,
            "timeout": DB_POOL_TIMEOUT,
            # A failed connect is retried with doubling delays: giving up soon lets the
            # next request start a fresh, immediate attempt once the database is back,
            # rather than waiting out a long backoff.
            "reconnect_timeout": DB_CONNECT_TIMEOUT,
        }
        db["CONN_MAX_AGE"] = 0
        # After a database restart the pooled connections are dead: they are checked on
        # checkout and replaced instead of failing requests, except those back in the
        # pool within DB_POOL_CHECK_AFTER seconds (emitrun/dbpool.py). Django's own check
        # would cost a round trip on every checkout.
        db["CONN_HEALTH_CHECKS"] = False
    else:
        db["CONN_MAX_AGE"] = 60
        db["CONN_HEALTH_CHECKS"] = True
    return db


DATABASES = {"default": _database()}
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "emitrun.db"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, Celery broker -------------------------------
REDIS_URL = env_str("REDIS_URL")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "emitrun.cache.SharedClientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "emitrun",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # channels-redis drops messages past `capacity` per client channel (default
            # 100): a burst of events must fit. Streams also resume from seq by design.
            "CONFIG": {
                # A bounded connect: an unreachable Redis must not hold a job request
                # (publishing runs after commit, in the request) for the OS's timeout.
                "hosts": [{"address": REDIS_URL, "socket_connect_timeout": 2}],
                "prefix": "emitrun",
                "capacity": env_int("EMITRUN_CHANNEL_CAPACITY", 2000, minimum=100),
                "expiry": 60,
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(DATA_DIR / "celery"),
        "data_folder_out": str(DATA_DIR / "celery"),
        "control_folder": str(DATA_DIR / "celery" / "control"),
    }

CELERY_TASK_ACKS_LATE = True
# Celery keeps its hands off the root logger when logs are JSON, so tasks log like the web.
CELERY_WORKER_HIJACK_ROOT_LOGGER = env_str("LOG_FORMAT", "plain") != "json"
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One queue name per deployment sharing a Redis (the end-to-end tests give each worker they
# start its own, so parallel runs never consume each other's messages).
CELERY_TASK_DEFAULT_QUEUE = env_str("EMITRUN_CELERY_QUEUE", "emitrun")
# A publish must not hang a request when the broker is down: the outbox dispatcher
# picks up whatever a lost kick did not deliver.
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("EMITRUN_BROKER_TIMEOUT_SECONDS", 2.0, minimum=0.1)

# --- Background schedule (seconds; emitrun/celery.py) ----------------------------
EMITRUN_SWEEP_SECONDS = env_float("EMITRUN_SWEEP_SECONDS", 1.0, minimum=0.1)
EMITRUN_DISPATCH_SECONDS = env_float("EMITRUN_DISPATCH_SECONDS", 5.0, minimum=0.1)
EMITRUN_PRUNE_SECONDS = env_float("EMITRUN_PRUNE_SECONDS", 300.0, minimum=1)

# --- Outbound deliveries (callbacks, Slack, push) ---------------------------------
# Hosts resolving to loopback/private/link-local/metadata addresses are refused unless set
# (development and tests with receivers on 127.0.0.1).
EMITRUN_ALLOW_PRIVATE_WEBHOOKS = env_bool("EMITRUN_ALLOW_PRIVATE_WEBHOOKS", False)
# Time limit of each phase of one attempt (connect, send, await the answer); reading the
# (capped) answer stops once this much time has passed overall.
EMITRUN_DELIVERY_TIMEOUT_SECONDS = env_float("EMITRUN_DELIVERY_TIMEOUT_SECONDS", 10.0, minimum=0.1)
# Retry backoff of a failed attempt: min(cap, base * 2**(attempt-1)), half of it jittered.
EMITRUN_DELIVERY_BACKOFF_BASE_SECONDS = env_float(
    "EMITRUN_DELIVERY_BACKOFF_BASE_SECONDS", 10.0, minimum=0
)
EMITRUN_DELIVERY_BACKOFF_CAP_SECONDS = env_float(
    "EMITRUN_DELIVERY_BACKOFF_CAP_SECONDS", 3600.0, minimum=0
)
# A row claimed ("sending") for longer than this belongs to a crashed sender: back to pending.
EMITRUN_DELIVERY_STUCK_SECONDS = env_float("EMITRUN_DELIVERY_STUCK_SECONDS", 300.0, minimum=1)
# Sent and failed delivery rows older than this are pruned.
EMITRUN_DELIVERY_RETENTION_DAYS = env_int("EMITRUN_DELIVERY_RETENTION_DAYS", 14, minimum=1)

# --- Auth, i18n, static -------------------------------------------------------
AUTH_USER_MODEL = "orgs.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed dashboard sign-ins allowed per window, per client address and per email (orgs/throttle.py).
EMITRUN_SIGNIN_WINDOW_SECONDS = env_int("EMITRUN_SIGNIN_WINDOW_SECONDS", 900, minimum=1)
EMITRUN_SIGNIN_FAILURES_PER_EMAIL = env_int("EMITRUN_SIGNIN_FAILURES_PER_EMAIL", 5, minimum=1)
EMITRUN_SIGNIN_FAILURES_PER_IP = env_int("EMITRUN_SIGNIN_FAILURES_PER_IP", 50, minimum=1)
# Password-reset mails asked for per email per window (the per-address limit above applies too).
EMITRUN_PASSWORD_RESETS_PER_EMAIL = env_int("EMITRUN_PASSWORD_RESETS_PER_EMAIL", 3, minimum=1)
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "emitrun <noreply@localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True  # serve straight from the source folders without collectstatic

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)

# --- API ------------------------------------------------------------------------
# A whole request body over this is refused before it is parsed (413).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("EMITRUN_MAX_BODY_BYTES", 8 * 1024 * 1024, minimum=1024)
# A job's payload, result or checkpoint over this, as JSON, is refused (413).
EMITRUN_MAX_PAYLOAD_BYTES = env_int("EMITRUN_MAX_PAYLOAD_BYTES", 1024 * 1024, minimum=1024)
# Requests per token: "N/s", "N/min" or "N/hour"; empty turns throttling off.
EMITRUN_TOKEN_RATE = env_str("EMITRUN_TOKEN_RATE", "6000/min")
# How long a process may reuse a verified API token (and its space) without reading it
# again; revocations and space changes evict at once (spaces/token_cache.py). 0: off.
EMITRUN_TOKEN_CACHE_SECONDS = env_float("EMITRUN_TOKEN_CACHE_SECONDS", 10.0, minimum=0)

# Failed authentications per client address ("N/s", "N/min", "N/hour"; empty turns it off):
# past it, 429 with Retry-After (WebSocket close 4429) until the window ends.
EMITRUN_AUTH_FAILURE_RATE = env_str("EMITRUN_AUTH_FAILURE_RATE", "20/min")
# Longest long-poll a worker may ask for.
EMITRUN_MAX_WAIT_SECONDS = 30

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["spaces.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["spaces.authentication.HasScopes"],
    "DEFAULT_THROTTLE_CLASSES": ["spaces.authentication.TokenRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["emitrun.parsers.JSONOrEmptyParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "emitrun.negotiation.JSONContentNegotiation",
    "EXCEPTION_HANDLER": "emitrun.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "emitrun API",
    "DESCRIPTION": "Multi-tenant background jobs: producers, workers and operators.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Logs and metrics (docs/deploy.md) ---------------------------------------------
# "json": one object a line with request_id, space_id and job_id (production); "plain".
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, got {LOG_FORMAT!r}")
# One line per HTTP request (method, route pattern, status, duration) on emitrun.access.
EMITRUN_ACCESS_LOG = env_bool("EMITRUN_ACCESS_LOG", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Secrets (API tokens in WebSocket URLs, Authorization values) are masked in every
    # line, plain or JSON (emitrun/redaction.py).
    "filters": {"context": {"()": "emitrun.logs.ContextFilter"}},
    "formatters": {
        "plain": {
            "()": "emitrun.redaction.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "emitrun.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "emitrun.access": {"level": "INFO" if EMITRUN_ACCESS_LOG else "WARNING"},
        # uvicorn's own handlers would print request lines (with `?token=`) unmasked.
        "uvicorn": {"handlers": ["console"], "propagate": False},
        "uvicorn.access": {"handlers": ["console"], "propagate": False},
    },
}

# /metrics answers a request bearing this token, or coming from these networks; anyone
# else gets 404. The load balancer does not route /metrics: scrape each node directly.
EMITRUN_METRICS_TOKEN = env_secret("EMITRUN_METRICS_TOKEN")


def _networks(name: str, default: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(item, strict=False) for item in env_list(name, default)]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None


EMITRUN_METRICS_NETWORKS = _networks("EMITRUN_METRICS_NETWORKS", ["127.0.0.1/32", "::1/128"])

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
