"""Settings come from the environment only; the defaults run on a fresh clone with no service."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("DESK_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-change-me-in-production-0123456789")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "desk.accounts.admin_apps.DeskAdminConfig",  # django.contrib.admin, opened by desk grants
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "huey.contrib.djhuey",
    "channels",
    "desk.core",
    "desk.accounts",
    "desk.customers",
    "desk.orders",
    "desk.tickets",
    "desk.sla",
    "desk.webhooks",
    "desk.cases",
    "desk.evidence",
    "desk.portal",
    "desk.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        # Staff and customer pages: Jinja2 renders ~1.9x faster than Django templates here.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "desk" / "jinja2"],
        "APP_DIRS": True,
        "OPTIONS": {
            "environment": "desk.core.jinja.environment",
            "auto_reload": DEBUG,
            # One masked CSRF token per page instead of one per form (see desk.core.jinja.csrf).
            "context_processors": ["desk.core.jinja.csrf"],
        },
    },
    {
        # Django admin only.
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'desk.sqlite3'}")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        # WAL lets readers run beside the one writer; IMMEDIATE avoids lock-upgrade deadlocks.
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=10000;PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Opening a connection parses the whole schema (~280 tables, indexes and triggers: ~2 ms of CPU),
    # which was a fifth of a page; a worker keeps its connection instead (checked before reuse).
    _db["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 600)
    _db["CONN_HEALTH_CHECKS"] = True
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # CONN_MAX_AGE=0 with psycopg's pool: persistent connections leaked under ASGI.
    _db["OPTIONS"] = {"pool": {"min_size": 1, "max_size": env_int("DB_POOL_MAX", 10)}}
    # Server-side binding: psycopg sends values apart from the SQL, so a statement a connection has
    # run 5 times becomes a prepared statement and PostgreSQL stops planning it again. Planning cost
    # more than running on the hot pages (ticket page: ~3.4 ms planning against ~0.6 ms running its
    # 12 reads; the case list paid a 6 ms plan-and-run each time). The pooled connections keep their
    # prepared statements. Behind a transaction-mode PgBouncer without prepared-statement support,
    # set DB_PREPARED_STATEMENTS=false (Django's default client-side binding).
    if env_bool("DB_PREPARED_STATEMENTS", True):
        _db["OPTIONS"] |= {"server_side_binding": True, "prepare_threshold": 5}
    # PostgreSQL's default random_page_cost (4) prices an index lookup for spinning disks: at 1M tickets
    # it read the open queue by walking the primary key backwards past every closed ticket (1.4 ms)
    # instead of the (status, -id) index (0.05 ms). The desk's hot tables sit in memory or on SSD, for
    # which PostgreSQL's documentation suggests a value near 1. Set per connection (no round trip);
    # DB_RANDOM_PAGE_COST= (empty) leaves the server's own setting.
    if _page_cost := env_str("DB_RANDOM_PAGE_COST", "1.1"):
        _db["OPTIONS"]["options"] = f"-c random_page_cost={float(_page_cost)}"
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, Huey, Channels --------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": env_str("HUEY_NAME", "desk"),
        "url": REDIS_URL,
        "immediate": env_bool("HUEY_IMMEDIATE", False),
        "consumer": {"workers": env_int("HUEY_WORKERS", 2), "worker_type": "thread"},
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "desk",
        "filename": str(VAR_DIR / "huey.sqlite3"),
        "immediate": env_bool("HUEY_IMMEDIATE", False),
        "consumer": {"workers": env_int("HUEY_WORKERS", 2), "worker_type": "thread"},
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Auth -----------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "desk.accounts.backends.StaffBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "tickets:queue"
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_LOCKOUT_CALLABLE = "desk.accounts.views.locked_out"  # a readable lockout page in the desk's layout
SESSION_COOKIE_HTTPONLY = True
# With Redis (the scaled shape) the shared cache holds what every process must see change at once
# (configuration stamps, `desk.core.held`; users read outside a session). The default per-process
# cache would let another worker keep a stale copy, so not there.
DESK_SHARED_CACHE = bool(REDIS_URL)
# Sessions in the database, read with their user and staff profile in one prepared statement
# (`desk.accounts.sessions`), with or without Redis: Django's cached_db store plus a cached user took
# two Redis reads and two unpicklings a page and measured slower (PostgreSQL ticket page 240–272
# against 306–315 req/s), and logout, expiry or a changed user take effect everywhere at once.
SESSION_ENGINE = "desk.accounts.sessions"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- i18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("SHOP_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns (an error in tests) when it is missing
STATICFILES_DIRS = [BASE_DIR / "desk" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Mail to customers (notices, portal login codes). With no EMAIL_HOST the messages are printed to the
# worker's and web's console, so the demo shows the portal's code without a mail server.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_BACKEND = "django.core.mail.backends." + ("smtp" if EMAIL_HOST else "console") + ".EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "售后服务 <service@localhost>")
EMAIL_TIMEOUT = 10

MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- The desk's own settings ------------------------------------------------------------------
DESK_ATTACHMENT_MAX_BYTES = env_int("DESK_ATTACHMENT_MAX_BYTES", 20 * 1024 * 1024)
DESK_IMPORT_MAX_BYTES = env_int("DESK_IMPORT_MAX_BYTES", 50 * 1024 * 1024)
DESK_API_MAX_BODY_BYTES = env_int("DESK_API_MAX_BODY_BYTES", 2 * 1024 * 1024)
DESK_WEBHOOK_TIMEOUT_SECONDS = env_int("DESK_WEBHOOK_TIMEOUT_SECONDS", 10)
DESK_WEBHOOK_MAX_ATTEMPTS = env_int("DESK_WEBHOOK_MAX_ATTEMPTS", 8)
DESK_WEBHOOK_ALLOW_PRIVATE = env_bool("DESK_WEBHOOK_ALLOW_PRIVATE", True)
# How many times one user may reveal a customer's masked contact details per hour, so a stolen agent
# login cannot page through the customer base (desk.customers.services.reveal_contact); 0 turns it off.
DESK_PII_REVEALS_PER_HOUR = env_int("DESK_PII_REVEALS_PER_HOUR", 30)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # run_huey adds its own handler to "huey"; not propagating keeps each line printed once.
    "loggers": {"jieba": {"level": "WARNING"}, "huey": {"level": "INFO", "propagate": False}},
}
