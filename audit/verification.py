"""Walks each chain and reports the first entry whose link or content no longer matches."""

from __future__ import annotations

from dataclasses import dataclass

from audit.models import AuditEntry
from audit.services import GENESIS, entry_digest


@dataclass(frozen=True)
class ChainBreak:
    chain: str
    seq: int
    problem: str


def audit_verify(*, chain: str | None = None) -> tuple[int, list[ChainBreak]]:
    """Return (entries checked, first break per chain)."""
    chains = [chain] if chain else list(AuditEntry.objects.order_by("chain").values_list("chain", flat=True).distinct())
    checked = 0
    breaks: list[ChainBreak] = []
    for name in chains:
        expected_prev, expected_seq = GENESIS, 1
        for entry in AuditEntry.objects.filter(chain=name).order_by("seq").iterator(chunk_size=2000):
            checked += 1
            if entry.seq != expected_seq:
                breaks.append(ChainBreak(name, expected_seq, f"entry {expected_seq} is missing"))
                break
            if entry.prev_hash != expected_prev:
                breaks.append(ChainBreak(name, entry.seq, "link to the previous entry does not match"))
                break
            if entry_digest(entry) != entry.hash:
                breaks.append(ChainBreak(name, entry.seq, "content was modified after it was written"))
                break
            expected_prev, expected_seq = entry.hash, entry.seq + 1
    return checked, breaks
