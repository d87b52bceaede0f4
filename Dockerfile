# syntax=docker/dockerfile:1
# The book as a container image: the same code and lock file as `make run`, production mode
# by default. Build:   docker build --build-arg GIT_SHA=$(git rev-parse --short HEAD) -t monograph .
# Run:     docker run --read-only --tmpfs /tmp --tmpfs /dev/shm -p 8000:8000 \
#            -e SECRET_KEY=… -e ALLOWED_HOSTS=book.example.org monograph
# Linted in the suite (tests/test_deploy.py: hadolint plus our own rules). The base image is
# pinned to a patch release; dependabot (.github/dependabot.yml) proposes the updates.

ARG PYTHON_IMAGE=python:3.13.9-slim-bookworm

# -- build: the locked environment, static files collected and compressed -----------------
FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
# Dependencies first, so a code change reuses this layer.
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN uv sync --frozen --no-dev \
 && .venv/bin/python -m devtools.vendor \
 && .venv/bin/python manage.py collectstatic --noinput --verbosity 0

# -- runtime: Debian's chromium for SVG/PNG export, the app owned by root, run as 10001 ----
FROM ${PYTHON_IMAGE} AS runtime
ARG GIT_SHA=unknown
# hadolint ignore=DL3008  # Debian's security updates for chromium arrive under the same suite
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-liberation \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 book \
 && useradd --system --uid 10001 --gid book --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin book
WORKDIR /app
COPY --from=build /app /app
# Everything the process writes goes under /tmp (a tmpfs or emptyDir): the root filesystem
# can be mounted read-only. No secret here: SECRET_KEY and ALLOWED_HOSTS come at run time.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MONOGRAPH_ENV=production \
    MONOGRAPH_GIT_SHA=${GIT_SHA} \
    MONOGRAPH_CACHE_URL=file:///tmp/monograph-cache \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    WEB_CONCURRENCY=2 \
    PORT=8000
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# A fresh metrics directory per start: stale files from a previous run would be summed in.
CMD ["sh", "-c", "rm -rf \"$PROMETHEUS_MULTIPROC_DIR\" && mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && exec gunicorn monograph.wsgi:application --config gunicorn.conf.py --bind 0.0.0.0:${PORT} --worker-tmp-dir /dev/shm"]
