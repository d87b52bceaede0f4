"""Safe defaults: production refuses to start without secrets and passes the deploy check."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

from django.conf import settings


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("SECRET_KEY", "ALLOWED_HOSTS", "MONOGRAPH_ENV", "MONOGRAPH_DEBUG")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR,
                          env={**clean, **env}, capture_output=True, text=True, timeout=60)


def test_local_defaults_are_safe():
    assert settings.DEBUG is False
    assert set(settings.ALLOWED_HOSTS) >= {"localhost", "127.0.0.1"}
    assert "*" not in settings.ALLOWED_HOSTS


def test_production_refuses_to_start_without_a_secret_key():
    proc = _manage("check", MONOGRAPH_ENV="production", ALLOWED_HOSTS="book.example.org")
    assert proc.returncode != 0
    assert "needs SECRET_KEY" in proc.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    proc = _manage("check", MONOGRAPH_ENV="production", SECRET_KEY=secrets.token_urlsafe(64))
    assert proc.returncode != 0
    assert "needs ALLOWED_HOSTS" in proc.stderr


def test_production_refuses_debug():
    proc = _manage("check", MONOGRAPH_ENV="production", SECRET_KEY=secrets.token_urlsafe(64),
                   ALLOWED_HOSTS="book.example.org", MONOGRAPH_DEBUG="1")
    assert proc.returncode != 0 and "MONOGRAPH_DEBUG=1 is refused" in proc.stderr


def test_production_passes_the_deploy_check_at_warning_level():
    proc = _manage("check", "--deploy", "--fail-level", "WARNING", MONOGRAPH_ENV="production",
                   SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="book.example.org")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "no issues" in proc.stdout


def test_local_mode_logs_that_the_secret_key_is_ephemeral():
    proc = _manage("check")
    assert proc.returncode == 0
    assert "SECRET_KEY is not set: using an ephemeral key" in proc.stderr


def test_production_logs_are_json_lines():
    code = ("import logging; logging.getLogger('monograph').warning('probe %s', 7, "
            "extra={'simulation': 'fanout'})")
    proc = _manage("shell", "-c", code, MONOGRAPH_ENV="production",
                   SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="book.example.org")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line parses: none is plain text
    probe = next(r for r in records if r.get("message") == "probe 7")
    assert probe["level"] == "WARNING" and probe["simulation"] == "fanout"


def test_a_typo_in_an_environment_variable_is_refused_clearly():
    proc = _manage("check", MONOGRAPH_ENV="prod")
    assert proc.returncode != 0
    assert "MONOGRAPH_ENV must be 'local' or 'production'" in proc.stderr
