"""`manage.py simulate`: refuses an unbounded or malformed run before touching the network, and
runs a bounded one against a live platform with keys from the environment."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from decisions.models import Decision


def test_an_unbounded_run_or_an_unknown_situation_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("CEP_SIM_WRITE_KEY", "wk_x")
    monkeypatch.setenv("CEP_SIM_SECRET_KEY", "sk_x")
    with pytest.raises(CommandError, match="--sessions, --duration or --forever"):
        call_command("simulate")
    with pytest.raises(CommandError, match="unknown situation"):
        call_command("simulate", "--sessions", "1", "--mix", "teleport=1")


@pytest.mark.django_db(transaction=True)
def test_a_bounded_run_reports_what_it_did(platform_url, ingest_worker, store, monkeypatch) -> None:
    monkeypatch.setenv("CEP_SIM_WRITE_KEY", store.write_key)
    monkeypatch.setenv("CEP_SIM_SECRET_KEY", store.secret_key)
    out = io.StringIO()
    call_command("simulate", "--url", platform_url, "--sessions", "12", "--rate", "0", "--seed", "5", stdout=out)
    text = out.getvalue()
    assert "Simulator: seed 5" in text
    assert "0 errors" in text
    visits = int(text.split(" visits,")[0].split()[-1])
    assert visits == Decision.objects.filter(workspace=store.workspace).count() > 0
