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
import re
from collections.abc import Callable
from typing import Any

import orjson

_LONG_NUMBER_BYTES = re.compile(rb"\d{19}")
_LONG_NUMBER_TEXT = re.compile(r"\d{19}")
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
    long_number = _LONG_NUMBER_BYTES.search(data) if isinstance(data, bytes) else _LONG_NUMBER_TEXT.search(data)
    if long_number is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return fallback(data)
