"""One settings module, driven by the environment.

With no environment (besides the `.env` that `make` writes) it runs embedded: SQLite, an
in-memory channel layer, Celery tasks executed in-process, mail to the console. Setting
`DATABASE_URL`, `REDIS_URL` and the Stripe keys switches to the real services; nothing else
changes. Production-safe by default: `DJANGO_DEBUG` is off unless set, and with debug off a
real secret key is required and HTTPS-only cookies, HSTS and the SSL redirect are on.
"""

import logging
import re
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # never overrides variables already set

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",
    "clubhouse.admin.apps.StaffAdminConfig",  # django.contrib.admin, the staff home its index
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.headless",
    "allauth.mfa",
    "django_celery_beat",
    "djstripe",
    "clubhouse",
    "accounts",
    "rooms",
    "clubs",
    "payouts",
    "media_relay",
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
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "clubhouse.urls"
ASGI_APPLICATION = "clubhouse.asgi.application"
SITE_ID = 1

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
            ],
        },
    },
]

# --- data ---------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # services own their transactions
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE: a transaction takes the write lock when it begins, so concurrent writers wait
    # (up to `timeout`) instead of failing with "database is locked" when a read transaction
    # tries to upgrade; WAL lets readers go on while one writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
    # A kept connection is checked before each request reuses it: after a database restart the
    # first request reconnects instead of failing on a dead socket (docs/operations.md, "Recovery").
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
IS_POSTGRES = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")

# --- database connection pool (issue #15, scale) ----------------------------------------------
# DATABASE_POOL_MAX > 0 opens psycopg's pool through Django (PostgreSQL only): each process keeps
# up to that many connections and lends one to a request or a database_sync_to_async call for
# its duration, instead of connecting per request. Off by default: the pool is per process, so
# an operator sizes it against PostgreSQL's max_connections (docs/operations.md, "Database
# connections"). Django refuses a pool with persistent connections (CONN_MAX_AGE).
DATABASE_POOL_MAX = env.int("DATABASE_POOL_MAX", default=0)
DATABASE_POOL_MIN = env.int("DATABASE_POOL_MIN", default=min(2, DATABASE_POOL_MAX))
DATABASE_POOL_TIMEOUT = env.float("DATABASE_POOL_TIMEOUT", default=10.0)
if DATABASE_POOL_MAX:
    for _bad, _problem in (
        (not IS_POSTGRES, "DATABASE_POOL_MAX needs PostgreSQL (DATABASE_URL=postgres://...)"),
        (DATABASE_POOL_MAX < 0, "DATABASE_POOL_MAX must be at least 1 (0 turns the pool off)"),
        (
            not 0 <= DATABASE_POOL_MIN <= DATABASE_POOL_MAX,
            f"DATABASE_POOL_MIN must be between 0 and DATABASE_POOL_MAX ({DATABASE_POOL_MAX})",
        ),
        (DATABASE_POOL_TIMEOUT <= 0, "DATABASE_POOL_TIMEOUT must be more than 0 seconds"),
        (
            bool(DATABASES["default"].get("CONN_MAX_AGE")),
            "DATABASE_CONN_MAX_AGE must be 0 with DATABASE_POOL_MAX: the pool keeps connections",
        ),
    ):
        if _bad:
            raise ImproperlyConfigured(_problem)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": DATABASE_POOL_MIN,
        "max_size": DATABASE_POOL_MAX,
        # how long a request waits for a free connection before failing (PoolTimeout)
        "timeout": DATABASE_POOL_TIMEOUT,
    }
# --- end database connection pool -------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # One Redis subscription per process (see docs/benchmarks.md for why).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("CHANNEL_PREFIX", default="ch")},
        }
    }
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
# Without a broker server, tasks run in-process when they are sent (embedded mode).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# With Redis as the broker, a task taken by a worker that died (killed, its host gone) is handed
# to another worker once it has been unacknowledged this long (docs/operations.md, "Recovery").
# Longer than any task runs (a task still running past it would start a second time: the
# payouts tasks are idempotent, but it is wasted work).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Without a broker nothing else would run beat's schedule, so the web process does
# (clubhouse/beat.py); BEAT_EMBEDDED=0 turns that off. With a broker, exactly one
# `celery beat` runs it: a beat in every web process would send each task once per process.
_TASKS_IN_PROCESS = CELERY_TASK_ALWAYS_EAGER and CELERY_BROKER_URL.startswith("memory://")
BEAT_EMBEDDED = env.bool("BEAT_EMBEDDED", default=_TASKS_IN_PROCESS)
if BEAT_EMBEDDED and not _TASKS_IN_PROCESS:
    raise ImproperlyConfigured(
        "BEAT_EMBEDDED=1 needs Celery without a broker (no REDIS_URL or CELERY_BROKER_URL, "
        "tasks eager); with a broker, run one `celery -A clubhouse beat` instead."
    )

# --- auth ---------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
HEADLESS_CLIENTS = ("app", "browser")
HEADLESS_FRONTEND_URLS = {
    "account_confirm_email": f"{SITE_URL}/accounts/confirm-email/{{key}}/",
    "account_reset_password_from_key": f"{SITE_URL}/accounts/password/reset/key/{{key}}/",
    "account_signup": f"{SITE_URL}/accounts/signup/",
}

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# EMAIL_URL sends mail through an SMTP server: smtp://user:password@host:25 (or port 587 with
# smtp+tls://, 465 with smtp+ssl://); it sets the SMTP backend and EMAIL_HOST, EMAIL_PORT,
# EMAIL_HOST_USER, EMAIL_HOST_PASSWORD and EMAIL_USE_TLS / EMAIL_USE_SSL (docs/operations.md).
if env.str("EMAIL_URL", default=""):
    _email = env.email_url("EMAIL_URL")
    if not _email.get("EMAIL_HOST"):
        raise ImproperlyConfigured("EMAIL_URL names no host, e.g. smtp+tls://user:pass@host:587")
    globals().update(_email)
    EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Clubhouse <noreply@localhost>")

# --- Web Push (accounts/push.py; docs/operations.md, "Web Push") -----------------------------
# A VAPID key pair identifies this server to the browsers' push services: the private key as
# base64url (the raw 32-byte P-256 scalar, or DER), the public key as base64url of the
# uncompressed point (what the page passes to pushManager.subscribe). `make env` writes a pair
# into .env; without both, push is off (the settings page says so and the API answers 409
# `push_not_configured`). Changing the pair invalidates every browser's subscription.
VAPID_PRIVATE_KEY = env.str("VAPID_PRIVATE_KEY", default="")
VAPID_PUBLIC_KEY = env.str("VAPID_PUBLIC_KEY", default="")
# The contact push services may write to about this server's pushes (RFC 8292 `sub`).
VAPID_SUBJECT = env.str("VAPID_SUBJECT", default="mailto:admin@localhost")
# Push endpoints must be https:// (every browser's push service is); plain http:// only for
# local development and tests, so a member cannot point the server at internal http services.
WEB_PUSH_ALLOW_HTTP = env.bool("WEB_PUSH_ALLOW_HTTP", default=DEBUG)

# --- API ----------------------------------------------------------------------------------
_renderers: list[str] = ["rest_framework.renderers.JSONRenderer"]
if DEBUG:
    _renderers.append("rest_framework.renderers.BrowsableAPIRenderer")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "allauth.headless.contrib.rest_framework.authentication.XSessionTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": _renderers,
    # The API speaks JSON; the views that take a file (avatar, club photo) add multipart
    # (clubhouse.api.UPLOAD_PARSERS). Anything else is a 415 with the error envelope.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_SCHEMA_CLASS": "clubhouse.api_schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "clubhouse.api.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "clubhouse.api.exception_handler",
    # Every write of the API is rate limited by scope (clubhouse/throttling.py, "Rate limits" below).
    "DEFAULT_THROTTLE_CLASSES": ["clubhouse.throttling.WriteThrottle"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Clubhouse API",
    "DESCRIPTION": "REST API for the web client and mobile apps. Errors always have the shape "
    '{"error": {"code": ..., "message": ..., "fields": {...}}}. The live room protocol is a '
    "WebSocket documented in docs/protocol.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Choice sets that share a field name across apps get explicit component names.
    "ENUM_NAME_OVERRIDES": {
        "UserReportReasonEnum": "accounts.models.Report.Reason",
        "ClubReportReasonEnum": "clubs.models.ClubReport.Reason",
        "RoomReportReasonEnum": "rooms.models.RoomReport.Reason",
        "ClubDecisionStatusEnum": "clubs.models.DecisionStatus",
        "CreatorApplicationStatusEnum": "payouts.models.CreatorApplication.Status",
        "HandRaisePolicyEnum": "rooms.models.Room.HandRaisePolicy",
        "RoomTypeEnum": "rooms.models.Room.Type",
    },
}

# --- files --------------------------------------------------------------------------------
STATIC_URL = "/static/"
# Where `manage.py collectstatic` writes (docs/operations.md, "Static files").
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Without DEBUG, static files are served under content-hashed names from `collectstatic`'s
    # manifest (clubhouse/staticfiles.py: the ES modules' imports are rewritten too), so browsers
    # may cache them for ever; with DEBUG, as they are in static/.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "clubhouse.staticfiles.HashedStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 5_242_880
# Uploaded pictures are re-encoded (clubhouse/images.py): scaled to at most IMAGE_MAX_SIDE pixels
# on the longer side; larger than IMAGE_MAX_PIXELS (width x height) is refused undecoded.
for _name in ("IMAGE_MAX_SIDE", "IMAGE_MAX_PIXELS"):
    if _name in env.ENVIRON:
        globals()[_name] = int(env.ENVIRON[_name])

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- security (on unless debugging locally) -----------------------------------------------
# The bearer token a monitor sends for /healthz/details (clubhouse/health.py); empty: staff only.
HEALTH_TOKEN = env.str("HEALTH_TOKEN", default="")

# Where users get the source of the code this deployment runs (GNU AGPL, section 13): every
# page's footer links to it. Empty: /source/, a tar.gz of the running code (clubhouse/source.py).
SOURCE_CODE_URL = env.str("SOURCE_CODE_URL", default="")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# Health probes (a container's HEALTHCHECK, a load balancer) reach the web port over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^livez$", r"^readyz$"]
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
BEHIND_TLS_PROXY = env.bool("DJANGO_BEHIND_TLS_PROXY", default=False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The client's address, for every limit keyed on it (allauth's login limits, the API's anonymous
# writes): behind the proxy, the X-Forwarded-For hop the proxy appended (the right-most one per
# trusted proxy; hops further left are whatever the client sent), else the peer's address.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int(
    "DJANGO_TRUSTED_PROXY_COUNT", default=1 if BEHIND_TLS_PROXY else 0
)
# A proxy that puts the client's address in a header of its own (e.g. CF-Connecting-IP).
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = env.str("DJANGO_TRUSTED_CLIENT_IP_HEADER", default="") or None

# --- Stripe (dj-stripe) ----------------------------------------------------------------------
# Real Stripe with the selected mode's secret key. Without one, the project's in-process stand-in
# answers only when asked for: STRIPE_STANDIN, on by default with DEBUG (`make run`), and refused
# by a system check without DEBUG (payouts/checks.py), so production never takes payments with it.
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
STRIPE_TEST_SECRET_KEY = env.str("STRIPE_TEST_SECRET_KEY", default="")
STRIPE_LIVE_SECRET_KEY = env.str("STRIPE_LIVE_SECRET_KEY", default="")
STRIPE_STANDIN = env.bool("STRIPE_STANDIN", default=DEBUG)
STRIPE_API_VERSION = "2026-05-27.dahlia"
# Publishable keys (dj-stripe's names): what a browser or a mobile app may see, through
# GET /api/v1/payouts/config/, to load Stripe.js / the mobile SDK. Never a secret key.
STRIPE_TEST_PUBLIC_KEY = env.str("STRIPE_TEST_PUBLIC_KEY", default="")
STRIPE_LIVE_PUBLIC_KEY = env.str("STRIPE_LIVE_PUBLIC_KEY", default="")
DJSTRIPE_WEBHOOK_SECRET = env.str("DJSTRIPE_WEBHOOK_SECRET", default="whsec_standin_local")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True

CSRF_FAILURE_VIEW = "clubhouse.api.csrf_failure"

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # stripe-python logs every request with api.stripe.com in it, even when the stand-in
        # answers in-process; WARNING keeps real errors and drops that noise.
        "stripe": {"level": env.str("STRIPE_LOG_LEVEL", default="WARNING")},
    },
}

# --- accounts ---------------------------------------------------------------------------------
# The waitlist screen: logged-in people who are not members yet are redirected to it
# (accounts/middleware.py; needs request.user, so it runs after AuthenticationMiddleware).
MIDDLEWARE += ["accounts.middleware.WaitlistMiddleware"]
# Staff need TOTP for /admin/ (accounts/middleware.py; docs/accounts.md). Always on: there is no
# setting to switch it off, so no deployment loses it by accident.
MIDDLEWARE += ["accounts.middleware.StaffTwoFactorMiddleware"]
# Two-factor (allauth.mfa): TOTP with recovery codes, for every member (Settings page).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="Clubhouse")
# Daily limits per member on the two ways to name someone (defaults in accounts/conf.py,
# docs/operations.md): counted in the cache, i.e. Redis when REDIS_URL is set.
for _name in ("WAITLIST_LET_IN_DAILY_LIMIT", "INVITATION_DAILY_LIMIT"):
    if _name in env.ENVIRON:
        globals()[_name] = int(env.ENVIRON[_name])
# How long "who was in which room" (RoomVisit) is kept; default and floor in rooms/conf.py.
if "ROOM_VISIT_RETENTION_DAYS" in env.ENVIRON:
    ROOM_VISIT_RETENTION_DAYS = int(env.ENVIRON["ROOM_VISIT_RETENTION_DAYS"])
# --- end accounts -----------------------------------------------------------------------------

# --- media relay ------------------------------------------------------------------------------
# Knobs an operator sets per deployment, from the environment when given (their defaults live in
# media_relay/conf.py; docs/operations.md and docs/relay.md explain them).
for _name, _cast in (
    ("RELAY_WORKER_MAX_PEERS", int),
    ("RELAY_PIPE_HOST", str),
    ("RELAY_HEARTBEAT_S", float),
    ("RELAY_WORKER_TTL_S", float),
    # Issue #22: reaching members on real networks (docs/operations.md, "TURN, NAT and
    # firewalls"). Lists are comma-separated; media_relay/conf.py checks every value.
    ("RELAY_ICE_SERVERS", str),
    ("STUN_URLS", str),
    ("TURN_URLS", str),
    ("TURN_SECRET", str),
    ("TURN_TTL_SECONDS", str),
    ("RELAY_PUBLIC_IP", str),
    ("RELAY_UDP_PORT_MIN", str),
    ("RELAY_UDP_PORT_MAX", str),
    ("RELAY_ICE_FAILURE_AFTER_S", float),
    ("RELAY_LOSS_REPORT_PERCENTILE", int),
    # Point 4: how many of the loudest speakers each listener hears (media_relay/conf.py checks it).
    ("RELAY_LISTENER_SLOTS", str),
):
    if _name in env.ENVIRON:
        globals()[_name] = _cast(env.ENVIRON[_name])

# --- payouts (Send Money) ---------------------------------------------------------------------
# Knobs an operator sets per deployment, from the environment when given (defaults in
# payouts/conf.py; docs/operations.md, "Limits on sending money", and docs/payouts.md).
for _name in (
    "PAYOUTS_TIP_MIN",
    "PAYOUTS_TIP_MAX",
    "PAYOUTS_TIP_DAILY_LIMIT",
    "PAYOUTS_TIP_DUPLICATE_WINDOW",
    "PAYOUTS_TIP_STUCK_AFTER",
    "PAYOUTS_STIPEND_STALE_AFTER",
    "PAYOUTS_STIPEND_CHUNK",
):
    if _name in env.ENVIRON:
        globals()[_name] = int(env.ENVIRON[_name])
# The stand-in's state shared between processes (development and tests only; payouts/conf.py).
if "PAYOUTS_STANDIN_STATE_FILE" in env.ENVIRON:
    PAYOUTS_STANDIN_STATE_FILE = env.ENVIRON["PAYOUTS_STANDIN_STATE_FILE"]

# --- rate limits on the REST API ----------------------------------------------------------------
# Every write (POST/PUT/PATCH/DELETE) is counted per member (per client address when anonymous)
# under a scope: the view's URL name picks it from THROTTLE_VIEW_SCOPES, else `write`. A rate is
# windows that must all pass ("10/h,30/d"); THROTTLE_RATE_<SCOPE> in the environment replaces one
# (docs/operations.md, "Rate limits"). Counted in the cache: Redis with REDIS_URL.
THROTTLE_RATES = {
    "write": "60/m,1000/h",
    "payment": "10/h,30/d",
    "payment_failure": "5/h,10/d",
    "report": "10/h,30/d",
    "ping": "30/h",
    "vouch": "30/h",
    "invitation_token": "20/h",
    "room_create": "10/h,50/d",
    "follow": "100/h,500/d",
}
for _scope in THROTTLE_RATES:
    _value = env.ENVIRON.get(f"THROTTLE_RATE_{_scope.upper()}")
    if _value is None:
        continue
    # the syntax clubhouse/throttling.py `parse_rate` reads; refused at start-up, not at a request
    if not re.fullmatch(r"\s*\d+\s*/\s*\d*[smhd]\s*(,\s*\d+\s*/\s*\d*[smhd]\s*)*", _value):
        raise ImproperlyConfigured(
            f"THROTTLE_RATE_{_scope.upper()}={_value!r} is not a rate (e.g. 10/m, 5/10m, 10/h,30/d)"
        )
    THROTTLE_RATES[_scope] = _value
# A scope whose failures (payments the provider refused) are limited too, and the failure scope.
THROTTLE_FAILURE_SCOPES = {"payment": "payment_failure"}
THROTTLE_VIEW_SCOPES = {
    **dict.fromkeys(
        [
            "api:payouts-tips",
            "api:payouts-ticket",
            "api:payouts-club-subscribe",
            "api:payouts-payment-method",
            "api:payouts-setup-intent",
            "api:payouts-standin-authenticate",
        ],
        "payment",
    ),
    **dict.fromkeys(["api:user-report", "api:club-reports", "api:room-report"], "report"),
    **dict.fromkeys(["api:room-ping", "api:room-invite"], "ping"),
    **dict.fromkeys(["api:waitlist-vouches", "api:waitlist-let-in", "api:invitations"], "vouch"),
    **dict.fromkeys(["api:invitation-preview", "api:invitation-redeem"], "invitation_token"),
    **dict.fromkeys(["api:room-list", "api:event-list", "api:clubs"], "room_create"),
    **dict.fromkeys(["api:user-follow", "api:user-block", "api:club-follow"], "follow"),
}
# How the 429's message names what there were too many of.
THROTTLE_DESCRIPTIONS = {
    "write": "changes",
    "payment": "payment attempts",
    "payment_failure": "failed payments",
    "report": "reports",
    "ping": "pings and room invitations",
    "vouch": "vouches and invitations",
    "invitation_token": "invitation checks",
    "room_create": "new rooms, events and clubs",
    "follow": "follows and blocks",
}
# Part of every counter's key; tests give each test its own (tests/conftest.py).
THROTTLE_NAMESPACE = ""

# --- what one member can make the web tier and the relay hold (issue #12) ---------------------
# Defaults live in rooms/realtime/conf.py, rooms/conf.py and media_relay/conf.py;
# docs/operations.md ("Limits per member on sockets, rooms and audio") explains each.
for _name, _cast in (
    ("REALTIME_MAX_SOCKETS_PER_USER", int),
    ("ROOM_MAX_JOINED_PER_USER", int),
    ("REALTIME_RTC_OFFERS_PER_MINUTE", int),
    ("RELAY_MAX_REMOTE_CANDIDATES", int),
    ("RELAY_ALLOW_LOOPBACK_CANDIDATES", str),
    # Admission control for join storms (issue #18, docs/operations.md "Join storms").
    ("ROOM_JOIN_MAX_IN_FLIGHT", int),
    ("ROOM_JOIN_RETRY_AFTER_MS", int),
    ("ROOM_DB_THREADS", int),
):
    if _name in env.ENVIRON:
        globals()[_name] = _cast(env.ENVIRON[_name])
# --- end member limits ------------------------------------------------------------------------

# --- metrics (issue #15: Prometheus; docs/operations.md "Metrics") ----------------------------
# Kept in one block of its own. PROMETHEUS_MULTIPROC_DIR is read by prometheus_client from the
# environment itself (clubhouse/metrics.py), never here.
MIDDLEWARE.insert(0, "clubhouse.metrics.request_metrics_middleware")
# The bearer token Prometheus sends to read /metrics (and a relay worker's metrics port);
# empty: /metrics answers 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# A relay worker (manage.py relay) serves its metrics on this port; unset: no port is opened.
RELAY_METRICS_PORT = env.int("RELAY_METRICS_PORT", default=None)
RELAY_METRICS_HOST = env.str("RELAY_METRICS_HOST", default="127.0.0.1")
# --- end metrics ------------------------------------------------------------------------------
# --- media on S3-compatible storage (issue #15, scale) ----------------------------------------
# AWS_STORAGE_BUCKET_NAME switches uploaded media (avatars, club photos) from MEDIA_ROOT to a
# bucket through django-storages; the other AWS_* variables say where and how
# (docs/operations.md, "Media on S3-compatible storage"). Without it, the file system.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
MEDIA_ORIGIN = ""  # where media URLs point when not this site (the CSP's img-src allows it)
if AWS_STORAGE_BUCKET_NAME:
    _s3_endpoint = env.str("AWS_S3_ENDPOINT_URL", default="")
    _s3_domain = env.str("AWS_S3_CUSTOM_DOMAIN", default="")
    _s3_region = env.str("AWS_S3_REGION_NAME", default="")
    if _s3_endpoint and not re.fullmatch(r"https?://[^/\s]+/?", _s3_endpoint):
        raise ImproperlyConfigured(
            f"AWS_S3_ENDPOINT_URL={_s3_endpoint!r} is not a URL like https://s3.example.com"
        )
    if _s3_domain and not re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?(/[^\s]*)?", _s3_domain):
        raise ImproperlyConfigured(
            f"AWS_S3_CUSTOM_DOMAIN={_s3_domain!r} is a host name like media.example.com (no scheme)"
        )
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": _s3_endpoint or None,
            "region_name": _s3_region or None,
            # empty: boto3 finds credentials itself (instance role, ~/.aws)
            "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
            "custom_domain": _s3_domain or None,
            # private bucket by default: media URLs are signed and expire
            "querystring_auth": env.bool("AWS_QUERYSTRING_AUTH", default=True),
            "querystring_expire": env.int("AWS_QUERYSTRING_EXPIRE", default=3600),
            "default_acl": None,
            # like the file system: a second file of the same name never replaces the first
            "file_overwrite": False,
        },
    }
    if _s3_domain:
        MEDIA_ORIGIN = "https://" + _s3_domain.split("/", 1)[0]
    elif _s3_endpoint:
        MEDIA_ORIGIN = _s3_endpoint.rstrip("/")
    else:
        MEDIA_ORIGIN = f"https://{AWS_STORAGE_BUCKET_NAME}.s3.amazonaws.com"
        if _s3_region:
            MEDIA_ORIGIN += f" https://{AWS_STORAGE_BUCKET_NAME}.s3.{_s3_region}.amazonaws.com"
# --- end media on S3-compatible storage -------------------------------------------------------

# --- security headers: CSP and Permissions-Policy (issue #15, scale) --------------------------
# Every response carries a Content-Security-Policy (django-csp): scripts and styles only from
# this site's static files (no inline script, style or on* attribute anywhere in the templates
# or the client), sockets only to this site, pictures from here, data: (the TOTP QR code) and the
# media bucket. Stripe.js and its frames are allowed for the card form (payouts/provider).
# ClubhousePermissionsPolicy adds `Permissions-Policy: microphone=(self)` (clubhouse/headers.py).
from csp.constants import NONE, SELF  # noqa: E402

_ws_origins: list[str] = []
if _site := re.fullmatch(r"(https?)://([^/]+)/?", SITE_URL):
    # CSP level 3 browsers let 'self' cover ws(s):// to this host; older ones need it said
    _ws_origins = [("wss" if _site[1] == "https" else "ws") + "://" + _site[2]]
_STRIPE_JS = "https://js.stripe.com"
CONTENT_SECURITY_POLICY = {
    # drf-spectacular's Swagger page is an inline script and a CDN's bundle: it keeps no policy
    "EXCLUDE_URL_PREFIXES": ["/api/docs/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, _STRIPE_JS],
        "style-src": [SELF],
        "img-src": [SELF, "data:", *MEDIA_ORIGIN.split()],
        "media-src": [SELF, "blob:"],
        "connect-src": [SELF, *_ws_origins, "https://api.stripe.com"],
        "frame-src": [_STRIPE_JS, "https://hooks.stripe.com"],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        # The service worker (/sw.js) and the web app manifest, both served by this site
        "worker-src": [SELF],
        "manifest-src": [SELF],
    },
}
MIDDLEWARE += ["csp.middleware.CSPMiddleware", "clubhouse.headers.PermissionsPolicyMiddleware"]
PERMISSIONS_POLICY = "microphone=(self), camera=(), geolocation=()"
# --- end security headers ---------------------------------------------------------------------
# --- logs and errors (clubhouse/logs.py; docs/operations.md, "Logs and errors") ---------------
# Every request gets an id (the client's valid X-Request-ID, else a new one), returned in the
# response and carried by each log line, the Celery tasks it queues and the relay commands it
# sends. First in MIDDLEWARE, so every response names it.
MIDDLEWARE.insert(0, "clubhouse.logs.RequestIdMiddleware")
# `json`: one JSON object per line (time, level, logger, message, request_id, exception), for a
# log collector; `plain`: text for a person at a terminal (`make run`).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: use `json` or `plain`.")
LOGGING["filters"] = {"request_id": {"()": "clubhouse.logs.RequestIdFilter"}}
LOGGING["formatters"]["json"] = {"()": "clubhouse.logs.JsonFormatter"}
LOGGING["handlers"]["console"].update({"formatter": LOG_FORMAT, "filters": ["request_id"]})
# Python's warnings (a library's deprecation, a missing static directory) become log lines too.
logging.captureWarnings(True)
# One access line per HTTP request from Django (with its request id), for daphne run with `-v 0`
# (no plain-text access log of its own); on by default with JSON logs.
LOG_ACCESS = env.bool("LOG_ACCESS", default=LOG_FORMAT == "json")
# Sentry, only when a DSN is set (without one, sentry_sdk is not even imported).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    import tomllib

    from clubhouse.logs import sentry_init

    try:
        _traces = float(env.str("SENTRY_TRACES_SAMPLE_RATE", default="0"))
    except ValueError:
        _traces = -1.0
    if not 0.0 <= _traces <= 1.0:
        raise ImproperlyConfigured(
            "SENTRY_TRACES_SAMPLE_RATE must be a fraction from 0 to 1 (e.g. 0.05), "
            f"not {env.str('SENTRY_TRACES_SAMPLE_RATE')!r}."
        )
    # The release is the project's version (pyproject.toml) unless SENTRY_RELEASE names one.
    _version = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]["version"]
    sentry_init(
        SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production"),
        release=env.str("SENTRY_RELEASE", default=f"clubhouse@{_version}"),
        traces_sample_rate=_traces,
    )
# --- end logs and errors ----------------------------------------------------------------------
