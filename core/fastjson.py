"""Compact JSON for the hot paths (ingest, features, replies), through orjson, with the standard
library's results.

orjson parses and writes JSON several times faster than ``json``, but differs from it at the
edges: it reads integers beyond 64 bits as floats (losing digits), refuses integers beyond 64 bits,
non-string keys and lone surrogates when writing, and writes NaN as ``null``. So:

- ``loads`` hands text with a run of 19 or more digits (a number that may not fit in 64 bits, or
  just a long digit string) to ``json``, and anything orjson refuses too (so bad input gets
  ``json``'s exceptions and messages);
- ``dumps`` falls back to ``json`` for whatever orjson refuses.

Callers pass values that came from parsing JSON or that the platform computed: never NaN (the
tracking parser refuses it; PostgreSQL would too).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

# A run of 19 digits, found by mapping every digit to 0 and searching for 19 zeros: several times
# faster than a regular expression over number-dense text such as the features state.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON, as ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: a big int, a non-str key, a surrogate, deep nesting
        return _ENCODER.encode(value).encode()  # a lone surrogate raises UnicodeEncodeError, as json would


def dumps(value: Any) -> str:
    """``dumps_bytes`` as text (lone surrogates kept, as ``json`` keeps them)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _ENCODER.encode(value)


def loads(data: bytes | str, *, fallback: Callable[[bytes | str], Any] = json.loads) -> Any:
    """``fallback(data)`` (by default ``json.loads``), faster where orjson gives the same value.
    Whatever orjson refuses goes to ``fallback``, so errors and their messages are its own."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    if _LONG_RUN not in raw.translate(_DIGITS_TO_ZERO):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return fallback(data)
