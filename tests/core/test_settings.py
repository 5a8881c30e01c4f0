from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _check_deploy(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECURE_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": "x" * 20 + "-a-real-production-secret-key-of-enough-length-9f3k2",
            "ALLOWED_HOSTS": "cep.example.com",
            **extra_env,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy() -> None:
    result = _check_deploy({})
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_catches_debug_in_production() -> None:
    result = _check_deploy({"DEBUG": "1"})
    assert result.returncode != 0
    assert "security.W018" in result.stdout + result.stderr
