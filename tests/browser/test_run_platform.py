"""`make run` end to end: the platform command brings up web, worker and beat on the test
database; a person logs in with the printed demo login and sees the dashboard; Ctrl-C stops
every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from tests.live import database_url, free_port

ROOT = Path(__file__).resolve().parents[2]


def _read_banner(proc: subprocess.Popen[str], deadline: float) -> dict[str, str]:
    lines: dict[str, str] = {}
    assert proc.stdout is not None
    while time.monotonic() < deadline and "Secret key" not in lines:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        key, sep, value = line.strip().partition(": ")
        if sep and key in {"URL", "Login", "Write key", "Secret key"}:
            lines[key] = value
    return lines


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_platform_starts_demo_login_sees_dashboard_and_ctrl_c_stops_all(tmp_path, browser_page, artifacts_dir) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CEP_VAR_DIR": str(tmp_path),
        "DEBUG": "1",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_platform", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group, so we can Ctrl-C it like a terminal would
    )
    try:
        banner = _read_banner(proc, time.monotonic() + 90)
        assert set(banner) == {"URL", "Login", "Write key", "Secret key"}, banner
        assert banner["URL"] == f"http://localhost:{port}/"
        username, password = banner["Login"].split(" / ")
        assert banner["Write key"].startswith("wk_")
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 3, "web server, worker and beat"

        api = requests.get(
            f"http://127.0.0.1:{port}/api/v1/workspace/",
            headers={"Authorization": f"Bearer {banner['Secret key']}"},
            timeout=10,
        )
        assert api.status_code == 200 and api.json()["name"] == "Demo Store"
        health = {}
        for _ in range(30):  # the worker may take a few seconds to join
            health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
            if health["status"] == "ok":
                break
            time.sleep(1)
        assert health["status"] == "ok", health

        page = browser_page
        page.goto(f"http://127.0.0.1:{port}/")
        assert "/accounts/login/" in page.url
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"http://127.0.0.1:{port}/")
        assert page.get_by_role("heading", name="Dashboard").is_visible()
        assert page.get_by_text("Demo Store").first.is_visible()
        page.wait_for_selector("#live-indicator[data-state='live']")  # the websocket connected
        page.screenshot(path=str(artifacts_dir / "dashboard.png"), full_page=True)

        page.get_by_role("link", name="Settings").click()
        page.get_by_role("link", name="API keys").click()
        page.get_by_label("New key name").fill("from the browser")
        page.get_by_role("button", name="Create key").click()
        page.wait_for_selector("#new-secret-key")
        page.screenshot(path=str(artifacts_dir / "api-keys.png"), full_page=True)

        # the storefront simulator started with the platform drives the demo workspace: its
        # decisions show up over the API within seconds (bounded wait, no timing asserted)
        decisions: list = []
        for _ in range(60):
            decisions = requests.get(
                f"http://127.0.0.1:{port}/api/v1/decisions/",
                headers={"Authorization": f"Bearer {banner['Secret key']}"},
                timeout=10,
            ).json()["results"]
            if decisions:
                break
            time.sleep(1)
        assert decisions, "the simulator made no decision"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("simulate" in " ".join(child.cmdline()) for child in children)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"still running after Ctrl-C: {alive}"
