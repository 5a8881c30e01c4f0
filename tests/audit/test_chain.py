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


@pytest.mark.django_db
def test_verify_reports_the_newest_entry_deleted(workspace, capsys) -> None:
    # given a chain of four entries whose newest one is deleted, bypassing the service
    entries = _write(workspace, 4)
    AuditEntry.objects.filter(pk=entries[-1].pk).delete()
    # then the shorter chain no longer matches its recorded head
    _, breaks = audit_verify(chain=str(workspace.id))
    assert len(breaks) == 1
    assert breaks[0].seq == entries[-1].seq
    assert "missing (deleted at the end)" in breaks[0].problem
    with pytest.raises(CommandError, match="broken in 1 chain"):
        call_command("audit_verify", chain=str(workspace.id))
    assert f"entry {entries[-1].seq}: entry {entries[-1].seq} is missing" in capsys.readouterr().err


@pytest.mark.django_db
def test_verify_command_reports_the_first_break_of_a_deleted_middle_entry(workspace, capsys) -> None:
    entries = _write(workspace, 5)
    AuditEntry.objects.filter(pk__in=[entries[1].pk, entries[3].pk]).delete()
    with pytest.raises(CommandError):
        call_command("audit_verify", chain=str(workspace.id))
    err = capsys.readouterr().err
    assert f"entry {entries[1].seq}: entry {entries[1].seq} is missing (deleted)" in err
    assert f"entry {entries[3].seq}" not in err  # only the first broken link is reported


@pytest.mark.django_db
def test_a_forged_entry_after_the_head_is_reported(workspace) -> None:
    entries = _write(workspace, 2)
    last = entries[-1]
    forged = AuditEntry(
        chain=last.chain,
        seq=last.seq + 1,
        workspace=workspace,
        actor_label="system",
        action="test.forged",
        created_at=last.created_at,
        prev_hash=last.hash,
    )
    from audit.services import entry_digest

    forged.hash = entry_digest(forged)
    forged.save()
    _, breaks = audit_verify(chain=str(workspace.id))
    assert [b.seq for b in breaks] == [forged.seq]
    assert "not written by the service" in breaks[0].problem


@pytest.mark.django_db
def test_redaction_keeps_the_chain_verifiable_only_when_recorded(workspace) -> None:
    from audit.services import audit_redact

    audit_record(workspace=workspace, actor=None, action="test.change", reason="asked by ana@example.com")
    seqs = audit_redact(workspace=workspace, values=["ana@example.com"])
    entry = AuditEntry.objects.get(chain=str(workspace.id), seq=seqs[0])
    assert entry.reason == "asked by [redacted]" and entry.redacted_at is not None
    # unrecorded, a redaction is indistinguishable from tampering
    _, breaks = audit_verify(chain=str(workspace.id))
    assert [b.seq for b in breaks] == seqs
    # recorded by the erasure's entry, the chain verifies again
    audit_record(workspace=workspace, actor=None, action="subject.erased", after={"redacted_seqs": seqs})
    assert audit_verify(chain=str(workspace.id))[1] == []
