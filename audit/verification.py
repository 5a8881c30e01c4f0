"""Walks each chain and reports the first entry whose link or content no longer matches."""

from __future__ import annotations

from dataclasses import dataclass

from audit.models import AuditChainHead, AuditEntry
from audit.services import GENESIS, entry_digest

REDACTION_ACTIONS = ("subject.erased",)


@dataclass(frozen=True)
class ChainBreak:
    chain: str
    seq: int
    problem: str


def _redactions_recorded(chain: str) -> set[int]:
    """Seqs that a later erasure entry says it redacted (their content may differ from their hash)."""
    seqs: set[int] = set()
    for after in AuditEntry.objects.filter(chain=chain, action__in=REDACTION_ACTIONS).values_list("after", flat=True):
        for seq in (after or {}).get("redacted_seqs", []) if isinstance(after, dict) else []:
            if isinstance(seq, int):
                seqs.add(seq)
    return seqs


def audit_verify(*, chain: str | None = None) -> tuple[int, list[ChainBreak]]:
    """Return (entries checked, first break per chain). A break is an entry whose content no
    longer matches its hash (modified), whose link does not match the previous entry's hash, a
    gap in the sequence (deleted in the middle), or a chain that ends before its recorded head
    (deleted at the end)."""
    if chain:
        chains = [chain]
    else:
        names = set(AuditEntry.objects.order_by().values_list("chain", flat=True).distinct())
        names |= set(AuditChainHead.objects.values_list("chain", flat=True))
        chains = sorted(names)
    heads = {h.chain: h for h in AuditChainHead.objects.filter(chain__in=chains)}
    checked = 0
    breaks: list[ChainBreak] = []
    for name in chains:
        redacted = _redactions_recorded(name)
        expected_prev, expected_seq = GENESIS, 1
        broken = False
        for entry in AuditEntry.objects.filter(chain=name).order_by("seq").iterator(chunk_size=2000):
            checked += 1
            if entry.seq != expected_seq:
                breaks.append(ChainBreak(name, expected_seq, f"entry {expected_seq} is missing (deleted)"))
                broken = True
                break
            if entry.prev_hash != expected_prev:
                breaks.append(ChainBreak(name, entry.seq, "link to the previous entry does not match"))
                broken = True
                break
            if entry_digest(entry) != entry.hash and not (entry.redacted_at and entry.seq in redacted):
                breaks.append(ChainBreak(name, entry.seq, "content was modified after it was written"))
                broken = True
                break
            expected_prev, expected_seq = entry.hash, entry.seq + 1
        head = heads.get(name)
        if broken or head is None:
            continue
        last_seq = expected_seq - 1
        if head.seq > last_seq:
            missing = f"{last_seq + 1}" if head.seq == last_seq + 1 else f"{last_seq + 1} to {head.seq}"
            breaks.append(ChainBreak(name, last_seq + 1, f"entry {missing} is missing (deleted at the end)"))
        elif head.seq < last_seq:
            breaks.append(
                ChainBreak(name, head.seq + 1, "entries after the recorded head were not written by the service")
            )
        elif head.hash != expected_prev:
            breaks.append(ChainBreak(name, last_seq, "the last entry does not match the chain's recorded head"))
    return checked, breaks
