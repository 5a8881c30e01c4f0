"""Standard Webhooks signatures: what we sign, a receiver verifies; anything else is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from delivery.signing import WebhookVerificationError, secret_generate, sign, signed_headers, verify


def test_the_signature_is_the_documented_hmac() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    expected = base64.b64encode(hmac.new(b"k" * 32, b"msg_1.1700000000.{}", hashlib.sha256).digest()).decode()
    assert sign(secret=secret, msg_id="msg_1", timestamp=1700000000, body=b"{}") == f"v1,{expected}"


@given(st.binary(max_size=2000), st.text(min_size=1, max_size=40).filter(lambda s: s.strip() == s and " " not in s))
def test_a_signed_body_verifies_and_any_change_does_not(body: bytes, msg_id: str) -> None:
    secret = secret_generate()
    headers = signed_headers(secret=secret, msg_id=msg_id, body=body, timestamp=1700000000)
    verify(secret=secret, headers=headers, body=body, now=1700000010)
    with pytest.raises(WebhookVerificationError):
        verify(secret=secret, headers=headers, body=body + b"x", now=1700000010)
    with pytest.raises(WebhookVerificationError):
        verify(secret=secret_generate(), headers=headers, body=body, now=1700000010)


def test_old_timestamps_and_missing_headers_are_refused() -> None:
    secret = secret_generate()
    headers = signed_headers(secret=secret, msg_id="msg_2", body=b"{}", timestamp=1700000000)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(secret=secret, headers=headers, body=b"{}", now=1700000000 + 301)
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify(secret=secret, headers={"webhook-id": "msg_2"}, body=b"{}")


def test_one_of_several_signatures_during_a_rotation_is_enough() -> None:
    old, new = secret_generate(), secret_generate()
    headers = signed_headers(secret=new, msg_id="msg_3", body=b"{}", timestamp=1700000000)
    headers["webhook-signature"] = (
        sign(secret=old, msg_id="msg_3", timestamp=1700000000, body=b"{}") + " " + headers["webhook-signature"]
    )
    verify(secret=new, headers=headers, body=b"{}", now=1700000000)
