"""The ceiling for ``bench/api.py``: a Django project with one endpoint that inserts one row,
served as sellerdesk is (uvicorn, the same workers, PostgreSQL through Django's pool)."""

from __future__ import annotations

import os

import dj_database_url

SECRET_KEY = os.environ.get("SECRET_KEY", "bench-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["barebench"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "barebench.urls"
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["OPTIONS"] = {"pool": True}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
