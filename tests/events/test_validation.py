"""The message validator on its own: per-field reasons, time rules, and (property tests)
that no input at all makes it raise or lets through something PostgreSQL would refuse."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.validation import (
    MESSAGE_FIELD,
    BodyError,
    ItemError,
    Message,
    decode_body,
    parse_json,
    serialised_size,
    validate_batch,
    validate_message,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def _valid(raw: object, call_type: str | None = "track") -> Message:
    result = validate_message(raw, index=0, received_at=NOW, call_type=call_type)
    assert isinstance(result, Message), result
    return result


def _errors(raw: object, call_type: str | None = "track") -> dict[str, str]:
    result = validate_message(raw, index=0, received_at=NOW, call_type=call_type)
    assert isinstance(result, ItemError), result
    return result.fields


def test_track_needs_event_and_an_identity() -> None:
    assert _errors({"properties": {}}) == {"event": "is required", "userId": "userId or anonymousId is required"}


def test_per_type_required_fields() -> None:
    assert _errors({"userId": "u"}, "group") == {"groupId": "is required"}
    assert _errors({"anonymousId": "a"}, "alias") == {"previousId": "is required", "userId": "is required"}
    assert isinstance(validate_message({"anonymousId": "a"}, index=0, received_at=NOW, call_type="identify"), Message)
    assert isinstance(validate_message({"anonymousId": "a"}, index=0, received_at=NOW, call_type="page"), Message)


def test_wrong_types_are_named_per_field() -> None:
    errors = _errors(
        {
            "userId": True,
            "anonymousId": ["x"],
            "event": 7,
            "properties": [],
            "context": "ctx",
            "integrations": 1,
            "timestamp": 1700000000,
        }
    )
    assert errors == {
        "userId": "must be a string",
        "anonymousId": "must be a string",
        "event": "must be a string",
        "properties": "must be an object",
        "context": "must be an object",
        "integrations": "must be an object",
        "timestamp": "must be an ISO-8601 date-time string",
    }


def test_numeric_ids_are_accepted_as_strings_and_long_ones_refused() -> None:
    assert _valid({"userId": 42, "event": "E"}).user_id == "42"
    assert _errors({"userId": "x" * 256, "event": "E"}) == {"userId": "must be at most 255 characters"}


def test_missing_message_id_is_assigned() -> None:
    message = _valid({"userId": "u", "event": "E"})
    assert message.message_id_assigned and len(message.message_id) == 36


def test_oversized_message_is_refused_with_its_size() -> None:
    errors = _errors({"userId": "u", "event": "E", "properties": {"blob": "x" * 33_000}})
    assert errors[MESSAGE_FIELD].endswith("the limit is 32768 bytes")


def test_characters_postgres_would_refuse_are_400_reasons() -> None:
    assert _errors({"userId": "u", "event": "E", "properties": {"k": "a\x00b"}}) == {
        MESSAGE_FIELD: "contains a NUL (\\u0000) character"
    }
    assert _errors({"userId": "u", "event": "E\ud800"}) == {MESSAGE_FIELD: "contains an unpaired UTF-16 surrogate"}
    # a literal backslash-u-0000 text is fine
    assert _valid({"userId": "u", "event": "E", "properties": {"k": "\\u0000"}}).properties == {"k": "\\u0000"}


def test_client_timestamp_is_honoured_for_historical_imports() -> None:
    message = _valid(
        {"userId": "u", "event": "E", "timestamp": "2020-01-02T03:04:05Z", "sentAt": "2025-03-01T12:00:00Z"}
    )
    assert message.timestamp == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_clock_skew_is_corrected_from_sent_at() -> None:
    # The client's clock is 1 hour fast: it stamped the event 10 s before sending.
    message = _valid(
        {
            "userId": "u",
            "event": "E",
            "originalTimestamp": "2025-03-01T12:59:50+00:00",
            "sentAt": "2025-03-01T13:00:00+00:00",
        }
    )
    assert message.timestamp == NOW - timedelta(seconds=10)
    assert message.received_at == NOW


def test_no_client_time_means_received_at() -> None:
    assert _valid({"userId": "u", "event": "E"}).timestamp == NOW


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("yesterday", "must be an ISO-8601 date-time string"),
        ("2025-13-01T00:00:00Z", "must be an ISO-8601 date-time string"),
        ("1969-12-31T23:59:59Z", "must be between 1970 and 2100"),
        ("2100-01-01T00:00:00Z", "must be between 1970 and 2100"),
        ("2025-03-03T12:00:00Z", "is more than 24 hours in the future"),
    ],
)
def test_bad_timestamps_are_refused(value: str, reason: str) -> None:
    assert _errors({"userId": "u", "event": "E", "timestamp": value}) == {"timestamp": reason}


def test_batch_items_get_their_type_and_batch_context_merged() -> None:
    messages, errors = validate_batch(
        {
            "batch": [
                {"type": "track", "userId": "u", "event": "A", "context": {"ip": "1.1.1.1"}},
                {"type": "nope", "userId": "u"},
                "not an object",
            ],
            "context": {"library": {"name": "sdk"}, "ip": "10.0.0.1"},
            "sentAt": "2025-03-01T12:00:00Z",
        },
        received_at=NOW,
    )
    assert [m.context for m in messages] == [{"library": {"name": "sdk"}, "ip": "1.1.1.1"}]
    assert messages[0].sent_at == NOW
    assert [(e.index, e.fields) for e in errors] == [
        (1, {"type": "must be one of identify, track, page, screen, group, alias"}),
        (2, {MESSAGE_FIELD: "must be a JSON object"}),
    ]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ([], {"body": "must be a JSON object"}),
        ({}, {"batch": "must be a list of messages"}),
        ({"batch": []}, {"batch": "must contain at least one message"}),
        ({"batch": [{}] * 2501}, {"batch": "has 2501 messages; at most 2500"}),
        ({"batch": [{}], "context": 5}, {"context": "must be an object"}),
    ],
)
def test_batch_envelope_errors(body: object, fields: dict[str, str]) -> None:
    with pytest.raises(BodyError) as caught:
        validate_batch(body, received_at=NOW)
    assert caught.value.status == 400
    assert caught.value.fields == fields


def test_json_parsing_refuses_non_finite_numbers_and_deep_nesting() -> None:
    for raw in (b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1e999}', b"[" * 100_000, b"\xff\xfe\x00", b'{"a": 1'):
        with pytest.raises(BodyError) as caught:
            parse_json(raw)
        assert caught.value.status == 400


def test_gzip_is_bounded() -> None:
    bomb = gzip.compress(b"{" + b" " * 2_000_000 + b"}")
    assert len(bomb) < 10_000
    with pytest.raises(BodyError) as caught:
        decode_body(bomb, content_encoding="gzip", limit=500_000)
    assert caught.value.status == 413
    assert decode_body(gzip.compress(b'{"a":1}'), content_encoding="gzip", limit=100) == b'{"a":1}'
    with pytest.raises(BodyError) as caught:
        decode_body(gzip.compress(b'{"a":1}')[:-4], content_encoding="gzip", limit=100)
    assert caught.value.status == 400
    with pytest.raises(BodyError) as caught:
        decode_body(b"x", content_encoding="br", limit=100)
    assert caught.value.status == 415


# ---------------------------------------------------------------- property tests

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
timestamps = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.integers(),
)
message_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "identify", "page", "screen", "group", "alias", "bogus", ""]) | json_values,
        "messageId": st.text(max_size=300) | st.integers() | json_values,
        "userId": st.text(max_size=300) | st.integers() | json_values,
        "anonymousId": st.text(max_size=10) | json_values,
        "event": st.text(max_size=300) | json_values,
        "groupId": st.text(max_size=10) | json_values,
        "previousId": st.text(max_size=10) | json_values,
        "timestamp": timestamps,
        "originalTimestamp": timestamps,
        "sentAt": timestamps,
        "properties": json_values,
        "traits": json_values,
        "context": json_values | st.fixed_dictionaries({"traits": json_values, "externalIds": json_values}),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=message_like | json_values, call_type=st.sampled_from([None, "track", "identify", "group", "alias"]))
def test_validator_never_raises_and_valid_output_is_storable(raw: object, call_type: str | None) -> None:
    result = validate_message(raw, index=0, received_at=NOW, call_type=call_type)
    if isinstance(result, ItemError):
        assert result.fields and all(isinstance(v, str) and v for v in result.fields.values())
        return
    assert result.user_id or result.anonymous_id
    assert result.type in ("identify", "track", "page", "screen", "group", "alias")
    for text in (result.message_id, result.user_id or "", result.anonymous_id or "", result.name):
        assert len(text) <= 255 and "\x00" not in text
    for part in (result.properties, result.traits, result.context, result.integrations, result.extra):
        assert isinstance(part, dict)
        assert not isinstance(serialised_size(part), str)  # storable as jsonb
    assert datetime(1970, 1, 1, tzinfo=UTC) <= result.timestamp <= NOW + timedelta(hours=24)


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_body_parsing_fails_only_with_body_errors(raw: bytes) -> None:
    try:
        body = parse_json(raw)
    except BodyError as exc:
        assert exc.status == 400
        return
    try:
        validate_batch(body, received_at=NOW)
    except BodyError as exc:
        assert exc.status == 400
