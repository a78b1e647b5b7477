"""The floor: a bare Django project on the same database engine as the desk, for comparison.

No auth, no sessions, two middlewares, one model, Django templates. `FLOOR_DATABASE_URL` picks the
database (run.py gives it its own SQLite file or PostgreSQL database).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "bench-floor-not-secret"  # noqa: S105 - serves a throwaway table on loopback
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["bench.floor"]
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware", "django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "bench.floor.urls"
WSGI_APPLICATION = "bench.floor.wsgi.application"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [], "APP_DIRS": True}]
_db = dj_database_url.parse(
    os.environ.get("FLOOR_DATABASE_URL", f"sqlite:///{BASE_DIR.parent.parent / 'var' / 'bench-floor.sqlite3'}")
)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # The same connection settings as the desk, so the comparison is fair.
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=10000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db["OPTIONS"] = {"pool": {"min_size": 1, "max_size": 10}}
# Django's default: a connection per request. bench/run.py also serves a second floor with
# FLOOR_CONN_MAX_AGE=600 (a connection kept per worker, as the desk keeps its SQLite connection): on
# SQLite, closing the last connection checkpoints the WAL, which held the default floor back by
# 1.4-1.8x on this machine, so the desk's ratios are printed against both.
if _db["ENGINE"] == "django.db.backends.sqlite3":  # PostgreSQL's floor keeps pooled connections already
    _db["CONN_MAX_AGE"] = int(os.environ.get("FLOOR_CONN_MAX_AGE", "0"))
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
