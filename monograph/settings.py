"""Settings: one module, driven by environment variables, safe by default.

Every variable is documented in README.md (tests/test_contract.py checks).
MONOGRAPH_ENV=production refuses to start without SECRET_KEY and ALLOWED_HOSTS and turns
on HTTPS hardening.
"""

from __future__ import annotations

import ipaddress
import logging
import math
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

_NEW_KEY_HINT = "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(64))')"
MIN_SECRET_KEY_BITS = 128


def weak_secret_key(key: str) -> str:
    """Why a key is too weak to sign with ('' when it is fine).

    Length alone lets '50 × a' through. The estimate is the key's length times the Shannon
    entropy of its characters: a random hex key of 64 characters scores ~250 bits, a
    token_urlsafe(64) ~500, and 'a' * 50 zero. A key that repeats a shorter pattern is
    refused whatever its score.
    """
    if len(key) < 50:
        return f"it has {len(key)} characters (at least 50)"
    if key.startswith("django-insecure-"):
        return "it is the placeholder Django's startproject writes"
    counts = [key.count(c) for c in set(key)]
    bits = sum(n * math.log2(len(key) / n) for n in counts)
    if bits < MIN_SECRET_KEY_BITS:
        return f"its characters carry about {bits:.0f} bits (at least {MIN_SECRET_KEY_BITS})"
    if key in (key + key)[1:-1]:
        return "it repeats a shorter pattern"
    return ""


SECRET_KEY = env("SECRET_KEY")
EPHEMERAL_SECRET_KEY = not SECRET_KEY
if PRODUCTION and not SECRET_KEY:
    raise ImproperlyConfigured(
        f"MONOGRAPH_ENV=production needs SECRET_KEY (at least 50 random characters), e.g. {_NEW_KEY_HINT}"
    )
if PRODUCTION and (weakness := weak_secret_key(SECRET_KEY)):
    raise ImproperlyConfigured(
        f"SECRET_KEY is too weak to sign with in production: {weakness}. "
        f"Generate a random one, e.g. {_NEW_KEY_HINT}"
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
    "monograph.ops.probes",  # before anything reads the Host header
    "monograph.statuses.methods",
    "monograph.conditional.conditional",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "monograph.admission.AdmissionMiddleware",
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
# Results and images live in a cache every process shares. The default is a directory on
# this machine (every gunicorn worker of `make run` shares it; no extra service); Redis is
# the option for several machines. Both degrade to uncached serving when they fail
# (monograph/cache.py). Bounded by entries: culled at MONOGRAPH_CACHE_MAX_ENTRIES.
CACHE_MAX_ENTRIES = int(env("MONOGRAPH_CACHE_MAX_ENTRIES", "2000"))
DEFAULT_CACHE_URL = f"file://{BASE_DIR / '.cache' / 'results'}"


def _cache(url: str) -> dict:
    """Django cache settings from a URL: file:///path, redis://host:port/db, locmem://, dummy://."""
    parsed = urlparse(url)
    match parsed.scheme:
        case "locmem":
            return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                    "LOCATION": "monograph", "OPTIONS": {"MAX_ENTRIES": CACHE_MAX_ENTRIES}}
        case "file" if parsed.path.startswith("/") and not parsed.netloc:
            return {"BACKEND": "monograph.cache.FileCache", "LOCATION": parsed.path,
                    "OPTIONS": {"MAX_ENTRIES": CACHE_MAX_ENTRIES, "CULL_FREQUENCY": 4}}
        case "redis" | "rediss":
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            # Fail fast and let the breaker in monograph/cache.py decide when to try again:
            # redis-py's default retries with back-off would hold a request for seconds.
            return {"BACKEND": "monograph.cache.SharedRedisCache", "LOCATION": url,
                    "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5,
                                "retry": Retry(NoBackoff(), 0), "health_check_interval": 30}}
        case "dummy":
            return {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    raise ImproperlyConfigured(
        "MONOGRAPH_CACHE_URL must be file:///absolute/path, redis://host:6379/0, locmem:// "
        f"or dummy:// (got {url!r})"
    )


CACHE_URL = env("MONOGRAPH_CACHE_URL", DEFAULT_CACHE_URL)
CACHES = {"default": _cache(CACHE_URL)}
# No sessions today (everything a reader sets is in the URL). When a feature needs server
# state, it goes in the same shared store, so any replica can answer any request.
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
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

# -- operations ---------------------------------------------------------------------------
def _networks(name: str, values: list[str]) -> tuple:
    try:
        return tuple(ipaddress.ip_network(n, strict=False) for n in values)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be comma-separated networks like "
                                   f"10.0.0.0/8,::1/128 ({exc})") from None


# /metrics answers direct requests from these networks only (see monograph/ops.py).
METRICS_ALLOW = _networks("MONOGRAPH_METRICS_ALLOW", env_list("MONOGRAPH_METRICS_ALLOW", [
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]))

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
    "filters": {"request_id": {"()": "monograph.logs.RequestIdFilter"},
                "disallowed_host": {"()": "monograph.logs.DisallowedHostFilter"}},
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
        # Made-up Host headers are the internet's background noise, not errors.
        "django.security.DisallowedHost": {"level": "WARNING", "filters": ["disallowed_host"]},
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

# Admission control and per-client rate limits (monograph/admission.py; README's table).
def env_int(name: str, default: int) -> int:
    raw = env(name, str(default))
    if not raw.isdigit():
        raise ImproperlyConfigured(f"{name} must be a whole number ≥ 0 (got {raw!r})")
    return int(raw)


ADMISSION = {
    "enabled": env_bool("MONOGRAPH_ADMISSION", True),
    "max_runs": env_int("MONOGRAPH_MAX_RUNS", 2),
    "max_active": env_int("MONOGRAPH_MAX_ACTIVE", 4),
    "max_queue": env_int("MONOGRAPH_MAX_QUEUE", 64),
    # The deadline bounds every wait; a shorter MAX_WAIT_MS sheds sooner than it must.
    "max_wait_s": env_int("MONOGRAPH_MAX_WAIT_MS", 1000) / 1000,
    "deadline_s": env_int("MONOGRAPH_DEADLINE_MS", 1000) / 1000,
    "full_budget_s": env_int("MONOGRAPH_FULL_BUDGET_MS", 250) / 1000,
    "margin_s": env_int("MONOGRAPH_RENDER_MARGIN_MS", 150) / 1000,
    "degrade": env_bool("MONOGRAPH_DEGRADE", True),
    "rate_window_s": env_int("MONOGRAPH_RATE_WINDOW_S", 10),
    "rate_run_ms": env_int("MONOGRAPH_RATE_RUN_MS", 6000),
    "rate_exports": env_int("MONOGRAPH_RATE_EXPORTS", 30),
}
if min(ADMISSION["max_runs"], ADMISSION["max_active"], ADMISSION["rate_window_s"]) < 1:
    raise ImproperlyConfigured("MONOGRAPH_MAX_RUNS, MONOGRAPH_MAX_ACTIVE and "
                               "MONOGRAPH_RATE_WINDOW_S must be at least 1")
# Client addresses for rate limits: the proxy's X-Forwarded-For only when one is in front.
ADMISSION_BEHIND_PROXY = env_bool("MONOGRAPH_BEHIND_PROXY", PRODUCTION)
