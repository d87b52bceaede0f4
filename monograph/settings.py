"""Settings: one module, driven by environment variables, safe by default.

Every variable is documented in README.md (tests/test_contract.py checks).
MONOGRAPH_ENV=production refuses to start without SECRET_KEY and ALLOWED_HOSTS and turns
on HTTPS hardening.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = env(name)
    if not raw:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be 0 or 1 (got {raw!r})")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env(name)
    return [x.strip() for x in raw.split(",") if x.strip()] if raw else default


# -- mode ---------------------------------------------------------------------------------
MONOGRAPH_ENV = env("MONOGRAPH_ENV", "local")
if MONOGRAPH_ENV not in ("local", "production"):
    raise ImproperlyConfigured(f"MONOGRAPH_ENV must be 'local' or 'production' (got {MONOGRAPH_ENV!r})")
PRODUCTION = MONOGRAPH_ENV == "production"

DEBUG = env_bool("MONOGRAPH_DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("MONOGRAPH_DEBUG=1 is refused when MONOGRAPH_ENV=production")

SECRET_KEY = env("SECRET_KEY")
EPHEMERAL_SECRET_KEY = not SECRET_KEY
if PRODUCTION and (not SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "MONOGRAPH_ENV=production needs SECRET_KEY (at least 50 random characters), e.g. "
        "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(64))')"
    )
if not SECRET_KEY:
    # Nothing signed outlives the process (no sessions, no database), so a fresh key
    # per start is safe locally; the log line says so (see apps.py).
    SECRET_KEY = secrets.token_urlsafe(64)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "MONOGRAPH_ENV=production needs ALLOWED_HOSTS, e.g. ALLOWED_HOSTS=book.example.org"
    )
if DEBUG and "testserver" not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append("testserver")

# -- application ----------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "django_htmx",
    "monograph.apps.MonographConfig",
]

MIDDLEWARE = [
    "monograph.middleware.request_id",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "monograph.middleware.prometheus",
    "monograph.conditional.conditional",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "monograph.sharing.ShareMiddleware",
]

ROOT_URLCONF = "monograph.urls"
WSGI_APPLICATION = "monograph.wsgi.application"
DATABASES: dict = {}  # stateless: everything a reader sets lives in the URL

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "monograph.context.site",
            ],
        },
    },
]

CONTENT_DIR = Path(env("MONOGRAPH_CONTENT_DIR") or BASE_DIR / "content").resolve()
# Re-read content files when they change (make dev); otherwise parse once per process.
CONTENT_AUTORELOAD = env_bool("MONOGRAPH_CONTENT_AUTORELOAD", DEBUG)

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# -- static files -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "staticfiles": {
        # Hashed names + brotli/gzip copies; WhiteNoise serves hashed files as immutable.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage",
    },
}
if DEBUG:
    STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
WHITENOISE_MAX_AGE = 3600

# -- cache --------------------------------------------------------------------------------
def _cache(url: str) -> dict:
    """Django cache settings from a URL: locmem://, file:///path, redis://host:port/db, dummy://."""
    parsed = urlparse(url)
    match parsed.scheme:
        case "locmem":
            return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                    "LOCATION": "monograph", "OPTIONS": {"MAX_ENTRIES": 2000}}
        case "file":
            return {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                    "LOCATION": parsed.path}
        case "redis" | "rediss":
            return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
        case "dummy":
            return {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    raise ImproperlyConfigured(
        f"MONOGRAPH_CACHE_URL must start with locmem://, file://, redis:// or dummy:// (got {url!r})"
    )


CACHES = {"default": _cache(env("MONOGRAPH_CACHE_URL", "locmem://"))}
SIMULATION_CACHE_SECONDS = 24 * 3600

# -- security -----------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# Embed pages are meant to be framed by wikis anywhere.
SECURE_CSP_EMBED = {**SECURE_CSP, "frame-ancestors": ["*"]}

if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("MONOGRAPH_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(env("MONOGRAPH_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("MONOGRAPH_HSTS_PRELOAD", False)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env_bool("MONOGRAPH_BEHIND_PROXY", True):
        # The proxy terminates TLS and says so in X-Forwarded-Proto.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]  # preload is a domain owner's choice

# -- logging ------------------------------------------------------------------------------
LOG_FORMAT = env("MONOGRAPH_LOG_FORMAT", "json" if PRODUCTION else "text")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"MONOGRAPH_LOG_FORMAT must be json or text (got {LOG_FORMAT!r})")
LOG_LEVEL = env("MONOGRAPH_LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in logging.getLevelNamesMapping():
    raise ImproperlyConfigured(f"MONOGRAPH_LOG_LEVEL must be a logging level (got {LOG_LEVEL!r})")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "monograph.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "monograph.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT,
                    "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},  # we log every request ourselves
        "django.server": {"level": "WARNING"},
        # The image renderer's libraries narrate their own shutdown at INFO.
        "kaleido": {"level": "WARNING"},
        "choreographer": {"level": "WARNING"},
        "logistro": {"level": "WARNING"},
    },
}

# -- simulations --------------------------------------------------------------------------
# Static images are drawn by kaleido in a headless Chromium; off → .svg/.png answer 503.
SIMULATION_IMAGES = env_bool("MONOGRAPH_IMAGES", True)

# Sent on every response by monograph.middleware.request_id.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
