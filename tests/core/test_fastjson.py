"""core.fastjson gives the standard library's results, through orjson where that is the same."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import fastjson

# Everything JSON can carry, including what orjson treats differently: integers beyond 64 bits,
# lone surrogates, NUL and other control characters, non-ASCII text.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["\ud800", "a\x00b", "\u2028", "é", ""])
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def _stdlib(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@settings(max_examples=400, deadline=None)
@given(value=values)
def test_loads_of_any_json_text_equals_the_standard_librarys(value: Any) -> None:
    text = _stdlib(value)
    expected = json.loads(text)
    assert _same(fastjson.loads(text), expected)
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 bytes for it
        return
    assert _same(fastjson.loads(data), expected)


@settings(max_examples=400, deadline=None)
@given(value=values)
def test_dumps_reads_back_as_the_standard_librarys_output(value: Any) -> None:
    assert _same(json.loads(fastjson.dumps(value)), json.loads(_stdlib(value)))
    try:
        expected = _stdlib(value).encode()
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):  # as json.dumps(...).encode() would
            fastjson.dumps_bytes(value)
        return
    assert _same(json.loads(fastjson.dumps_bytes(value)), json.loads(expected))


def test_integers_beyond_64_bits_keep_every_digit() -> None:
    big = 123456789012345678901234567890
    assert fastjson.loads(f'{{"order":{big}}}') == {"order": big}
    assert fastjson.loads(f"[{-(2**63) - 1}]".encode()) == [-(2**63) - 1]
    assert json.loads(fastjson.dumps({"n": 2**64})) == {"n": 2**64}


def test_what_orjson_refuses_goes_to_the_fallback_with_its_errors() -> None:
    with pytest.raises(json.JSONDecodeError, match="Expecting property name"):
        fastjson.loads(b"{nope")
    assert math.isnan(fastjson.loads("[NaN]")[0])  # as json.loads; to refuse it, pass a strict fallback
    refused: list[Any] = []

    def strict(data: bytes | str) -> Any:
        refused.append(data)
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        fastjson.loads(b'{"a":1e999}', fallback=strict)
    assert refused == [b'{"a":1e999}']
    assert fastjson.loads(b'{"a":1.5}', fallback=strict) == {"a": 1.5}  # orjson's answer, no fallback


def test_non_string_keys_are_written_as_json_writes_them() -> None:
    assert fastjson.dumps({1: "a", None: "b"}) == _stdlib({1: "a", None: "b"})


def _same(a: Any, b: Any) -> bool:
    """Equal, with the types of numbers compared too (1 and 1.0 are different JSON)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b
