"""Stable holdout assignment: the same person is always in (or out of) control for a policy."""

from __future__ import annotations

import hashlib


def holdout_bucket(*, salt: str, person_key: str) -> float:
    """A number in [0, 1) fixed for (salt, person); uniform across people."""
    digest = hashlib.sha256(f"{salt}:{person_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_holdout(*, salt: str, person_key: str, share: float) -> bool:
    return holdout_bucket(salt=salt, person_key=person_key) < share
