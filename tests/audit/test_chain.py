from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEntry
from audit.services import audit_record
from audit.verification import audit_verify


def _write(workspace, n: int) -> list[AuditEntry]:
    return [
        audit_record(workspace=workspace, actor=None, action="test.change", target_id=str(i), after={"i": i})
        for i in range(n)
    ]


@pytest.mark.django_db
def test_entries_are_chained_per_workspace(personas) -> None:
    ours = _write(personas.workspace, 3)
    theirs = _write(personas.other_workspace, 2)
    assert ours[1].prev_hash == ours[0].hash and ours[2].prev_hash == ours[1].hash
    assert theirs[0].chain != ours[0].chain
    checked, breaks = audit_verify()
    assert breaks == []
    assert checked == AuditEntry.objects.count()


@pytest.mark.django_db
def test_verify_reports_a_modified_entry(workspace, capsys) -> None:
    entries = _write(workspace, 4)
    AuditEntry.objects.filter(pk=entries[2].pk).update(after={"i": 999})  # tampering, bypassing the service
    _, breaks = audit_verify(chain=str(workspace.id))
    assert len(breaks) == 1
    assert breaks[0].seq == entries[2].seq
    assert "modified" in breaks[0].problem
    with pytest.raises(CommandError):
        call_command("audit_verify")
    assert f"entry {entries[2].seq}: content was modified" in capsys.readouterr().err


@pytest.mark.django_db
def test_verify_reports_a_deleted_entry(workspace) -> None:
    entries = _write(workspace, 4)
    AuditEntry.objects.filter(pk=entries[1].pk).delete()
    _, breaks = audit_verify(chain=str(workspace.id))
    assert len(breaks) == 1
    assert breaks[0].seq == entries[1].seq
    assert "missing" in breaks[0].problem


@pytest.mark.django_db
def test_verify_command_says_intact(workspace, capsys) -> None:
    _write(workspace, 2)
    call_command("audit_verify")
    assert "audit trail intact" in capsys.readouterr().out
