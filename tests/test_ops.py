"""Operations in production: probes by pod IP, /metrics kept internal with bounded labels,
made-up Host headers logged without flooding, and weak secret keys refused at start."""

from __future__ import annotations

import logging
import secrets
import urllib.error
import urllib.request
import uuid

import pytest
from django.test import override_settings
from test_settings import _manage

from devtools.localserver import gunicorn
from monograph import logs, metrics

PRODUCTION = {"MONOGRAPH_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(64),
              "ALLOWED_HOSTS": "book.example.org"}


def _status(url: str, **headers: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_probes_addressing_the_pod_by_ip_pass_in_production_and_pages_still_check_the_host():
    with gunicorn(workers=1, env=PRODUCTION) as url:
        pod_ip = {"Host": "10.42.0.7:8000"}
        assert _status(url + "/healthz", **pod_ip) == 200
        assert _status(url + "/readyz", **pod_ip) == 200
        assert _status(url + "/metrics", **pod_ip) == 200  # Prometheus scrapes pods by IP too
        assert _status(url + "/", **pod_ip) == 400
        assert _status(url + "/", Host="book.example.org", **{"X-Forwarded-Proto": "https"}) == 200


@pytest.mark.parametrize("addr", ["127.0.0.1", "10.1.2.3", "192.168.0.9", "::1"])
def test_metrics_answer_a_direct_scrape_from_a_private_network(client, addr):
    assert client.get("/metrics", REMOTE_ADDR=addr).status_code == 200


@pytest.mark.parametrize("addr", ["203.0.113.9", "2001:db8::1", "not-an-ip"])
def test_metrics_refuse_a_public_address(client, addr):
    assert client.get("/metrics", REMOTE_ADDR=addr).status_code == 403


def test_metrics_refuse_a_request_relayed_by_the_proxy_even_from_a_private_address(client):
    resp = client.get("/metrics", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.4")
    assert resp.status_code == 403
    assert b"MONOGRAPH_METRICS_ALLOW" in resp.content


def test_the_metrics_allow_list_is_configurable(client):
    import ipaddress

    with override_settings(METRICS_ALLOW=(ipaddress.ip_network("203.0.113.0/24"),)):
        assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_a_bad_metrics_allow_list_stops_the_start_with_the_expected_form():
    proc = _manage("check", MONOGRAPH_METRICS_ALLOW="10.0.0.0/8,everyone")
    assert proc.returncode != 0
    assert "MONOGRAPH_METRICS_ALLOW must be comma-separated networks" in proc.stderr


def test_invented_request_methods_share_one_metrics_label(client):
    method = "X" + uuid.uuid4().hex[:8].upper()
    client.generic(method, "/")
    body = client.get("/metrics").content.decode()
    assert method not in body
    assert 'method="other"' in body
    assert metrics.method_label("GET") == "GET"


def test_a_disallowed_host_is_logged_once_per_window_at_warning(client, caplog):
    host = f"{uuid.uuid4().hex[:12]}.example"
    caplog.set_level(logging.DEBUG, logger="django.security")
    for _ in range(25):
        assert client.get("/", HTTP_HOST=host).status_code == 400
    lines = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert len(lines) == 1
    assert lines[0].levelno == logging.WARNING and lines[0].exc_info is None
    assert host in lines[0].getMessage()


def test_the_host_log_says_how_many_lines_it_held_back_once_the_window_passes(monkeypatch):
    clock = iter([0.0, 1.0, 2.0, 61.0])
    monkeypatch.setattr(logs.time, "monotonic", lambda: next(clock))
    keep = logs.DisallowedHostFilter(window_s=60)
    record = logging.makeLogRecord({"msg": "Invalid HTTP_HOST header: 'a.example'. You may…",
                                    "levelno": logging.ERROR, "levelname": "ERROR"})
    passed = [keep.filter(logging.makeLogRecord(record.__dict__)) for _ in range(4)]
    assert passed == [True, False, False, True]


def test_the_host_log_forgets_the_oldest_hosts_beyond_its_bound():
    keep = logs.DisallowedHostFilter(max_hosts=3)
    for i in range(10):
        keep.filter(logging.makeLogRecord({"msg": f"Invalid HTTP_HOST header: 'h{i}'."}))
    assert list(keep._seen) == ["h7", "h8", "h9"]


@pytest.mark.parametrize("weak", ["a" * 50, "abcdefgh" * 7, "django-insecure-" + "x1y2z3" * 9,
                                  "k3Y9-rT0_pQ2-short-but-random"])
def test_production_refuses_a_weak_secret_key_and_says_how_to_make_one(weak):
    proc = _manage("check", MONOGRAPH_ENV="production", SECRET_KEY=weak,
                   ALLOWED_HOSTS="book.example.org")
    assert proc.returncode != 0
    assert "SECRET_KEY is too weak to sign with in production" in proc.stderr
    assert "secrets.token_urlsafe(64)" in proc.stderr


@pytest.mark.parametrize("make", [lambda: secrets.token_hex(32), lambda: secrets.token_urlsafe(64)],
                         ids=["hex", "urlsafe"])
def test_production_accepts_random_secret_keys_in_hex_or_base64(make):
    from monograph.settings import weak_secret_key

    assert weak_secret_key(make()) == ""
