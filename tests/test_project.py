"""The project around the domain: settings from the environment, the console command, serve."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

SELLERDESK = Path(sys.executable).parent / "sellerdesk"


def run(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SELLERDESK_ENV"}}
    return subprocess.run(
        [str(SELLERDESK), *args], env={**clean, **env}, capture_output=True, text=True,
        cwd=REPO, timeout=120, check=False, **kwargs,
    )  # fmt: skip


def test_production_mode_refuses_to_start_without_a_secret(tmp_path):
    result = run(["check"], {"SELLERDESK_ENV": "production", "SELLERDESK_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_production_mode_passes_the_deployment_checks(tmp_path):
    env = {
        "SELLERDESK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "desk.example.com",
        "SELLERDESK_VAR_DIR": str(tmp_path),
    }
    result = run(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_development_mode_generates_a_private_secret_once(tmp_path):
    env = {"SELLERDESK_VAR_DIR": str(tmp_path)}
    assert run(["check"], env).returncode == 0
    key_file = tmp_path / "secret_key"
    first = key_file.read_text()
    assert len(first) >= 50
    assert key_file.stat().st_mode & 0o077 == 0
    assert run(["check"], env).returncode == 0
    assert key_file.read_text() == first


def test_console_command_lists_the_project_commands(tmp_path):
    result = run(["help"], {"SELLERDESK_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0
    for command in ("import", "export", "report", "serve", "demo", "migrate"):
        assert f"    {command}\n" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="serves the embedded SQLite database of a fresh var/ directory",
)
def test_serve_answers_http_on_the_given_port(tmp_path):
    env = {"SELLERDESK_VAR_DIR": str(tmp_path)}
    assert run(["migrate", "-v", "0"], env).returncode == 0
    port = _free_port()
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SELLERDESK_ENV"}}
    server = subprocess.Popen(
        [str(SELLERDESK), "serve", "--port", str(port)], env={**clean, **env}, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = json.loads(r.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert body == {"status": "ok", "database": "sqlite"}
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="serves the embedded SQLite database of a fresh var/ directory",
)
def test_serve_in_production_serves_the_pages_and_their_hashed_static_files(tmp_path):
    env = {
        "SELLERDESK_VAR_DIR": str(tmp_path),
        "SELLERDESK_ENV": "production",
        "SECRET_KEY": "a-test-secret-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
    }
    assert run(["migrate", "-v", "0"], env).returncode == 0
    port = _free_port()
    server = subprocess.Popen(
        [str(SELLERDESK), "serve", "--port", str(port)], env={**os.environ, **env}, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/") as r:
                    page = r.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        css = re.search(r'href="(/static/sellerdesk/app\.[0-9a-f]+\.css)"', page)
        assert css, "the page links the hashed style sheet"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{css[1]}") as r:
            assert r.status == 200
            assert "max-age" in r.headers["Cache-Control"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_page_answers_503_with_retry_after_while_the_database_is_away(
    client_for, agent, monkeypatch
):
    from django.db import OperationalError

    from sellerdesk.desk import views

    def away(*args, **kwargs):
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(views.selectors, "inbox", away)
    client = client_for(agent)
    client.raise_request_exception = False

    response = client.get("/desk/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "try again in a few seconds" in response.content.decode()


def test_any_other_error_is_still_a_500(client_for, agent, monkeypatch):
    from sellerdesk.desk import views

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views.selectors, "inbox", broken)
    client = client_for(agent)
    client.raise_request_exception = False

    assert client.get("/desk/").status_code == 500
