from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decisions.guardrails import (
    BrandSafety,
    CandidateAction,
    ContactLog,
    ContactPolicy,
    PersonState,
    Suppression,
    apply_guardrails,
    in_quiet_hours,
)
from decisions.holdout import holdout_bucket, in_holdout

NOON_UTC = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EMAIL = CandidateAction("weekly_promo", channel="email", kind="offer", content="Our weekly deals. Unsubscribe here.")
IN_APP_HELP = CandidateAction("checkout_help", channel="in_app", kind="service", content="Need help? Chat with us.")
POLICY = ContactPolicy()
NO_RULES = BrandSafety()


def _apply(actions, person, now=NOON_UTC, brand=NO_RULES, policy=POLICY):
    return apply_guardrails(actions, person, policy=policy, brand=brand, now=now)


def test_no_consent_removes_the_channel_with_its_reason() -> None:
    kept, removed = _apply([EMAIL, IN_APP_HELP], PersonState(consent={"in_app": True}))
    assert kept == [IN_APP_HELP]
    assert [(r.action, r.guardrail, r.reason) for r in removed] == [("weekly_promo", "consent", "no email consent")]


def test_caps_per_channel_and_overall() -> None:
    contacts = ContactLog([("email", NOON_UTC - timedelta(hours=3))])
    kept, removed = _apply([EMAIL], PersonState(consent={"email": True}, contacts=contacts))
    assert kept == []
    assert removed[0].reason == "email cap of 1 per day reached"
    busy = ContactLog([("push", NOON_UTC - timedelta(hours=h)) for h in range(1, 5)])
    kept, removed = _apply([IN_APP_HELP], PersonState(consent={"in_app": True}, contacts=busy))
    assert "overall cap of 4 contacts per day reached" in [r.reason for r in removed]


def test_quiet_hours_follow_the_person_time_zone() -> None:
    # 12:00 UTC is 21:00 in Tokyo: quiet there, not in Lisbon.
    tokyo = PersonState(consent={"email": True}, timezone="Asia/Tokyo")
    lisbon = PersonState(consent={"email": True}, timezone="Europe/Lisbon")
    assert _apply([EMAIL], tokyo)[1][0].reason == "quiet hours (21:00-08:00 in Asia/Tokyo)"
    assert _apply([EMAIL], lisbon)[0] == [EMAIL]
    assert _apply([IN_APP_HELP], PersonState(consent={"in_app": True}, timezone="Asia/Tokyo"))[0] == [IN_APP_HELP]


def test_unknown_time_zone_falls_back_to_utc() -> None:
    assert in_quiet_hours(NOON_UTC.replace(hour=23), "Not/AZone", time(21), time(8))


def test_suppression_pauses_promotions_but_not_service() -> None:
    window = Suppression(reason="a payment failure", until=NOON_UTC + timedelta(hours=48))
    person = PersonState(consent={"email": True, "in_app": True}, suppressions=[window])
    kept, removed = _apply([EMAIL, IN_APP_HELP], person)
    assert kept == [IN_APP_HELP]
    assert removed[0].reason == "offers paused for 48 more h after a payment failure"
    later = NOON_UTC + timedelta(hours=49)
    assert _apply([EMAIL], person, now=later)[0] == [EMAIL]


def test_brand_safety_on_rendered_content() -> None:
    rules = BrandSafety(banned_phrases=["guaranteed"], max_discount_percent=20, required_text={"email": "unsubscribe"})
    risky = CandidateAction(
        "big_deal", channel="email", kind="offer", content="Guaranteed savings!", discount_percent=35
    )
    kept, removed = _apply([risky, EMAIL], PersonState(consent={"email": True}), brand=rules)
    assert kept == [EMAIL]
    assert {r.reason for r in removed} == {
        "content contains the banned phrase 'guaranteed'",
        "discount of 35% is above the ceiling of 20%",
        "email content lacks the required text 'unsubscribe'",
    }


@settings(max_examples=200, deadline=None)
@given(
    consent=st.dictionaries(st.sampled_from(["email", "sms", "push", "in_app"]), st.booleans()),
    hours_ago=st.lists(st.floats(min_value=0, max_value=24 * 8), max_size=20),
    channel=st.sampled_from(["email", "sms", "push", "in_app"]),
    hour=st.integers(0, 23),
    zone=st.sampled_from(["UTC", "Europe/Lisbon", "Asia/Tokyo", "America/New_York"]),
)
def test_guardrails_are_never_violated(consent, hours_ago, channel, hour, zone) -> None:
    now = NOON_UTC.replace(hour=hour)
    contacts = ContactLog([(channel, now - timedelta(hours=h)) for h in hours_ago])
    person = PersonState(consent=consent, timezone=zone, contacts=contacts)
    action = CandidateAction("a", channel=channel, kind="offer", content="hi")
    kept, _ = _apply([action], person, now=now)
    if kept:
        assert consent.get(channel) is True
        assert contacts.count(since=now - timedelta(days=1), channel=channel) < POLICY.per_channel_day[channel]
        assert contacts.count(since=now - timedelta(days=7), channel=channel) < POLICY.per_channel_week[channel]
        if channel in POLICY.quiet_channels:
            assert not in_quiet_hours(now, zone, time(21), time(8))


def test_holdout_is_stable_and_close_to_the_share() -> None:
    assert holdout_bucket(salt="p1", person_key="ana") == holdout_bucket(salt="p1", person_key="ana")
    members = sum(in_holdout(salt="policy-1", person_key=f"person-{i}", share=0.1) for i in range(20_000))
    assert members / 20_000 == pytest.approx(0.1, abs=0.01)
    # another policy salt draws another group
    other = sum(
        in_holdout(salt="policy-1", person_key=f"person-{i}", share=0.1)
        and in_holdout(salt="policy-2", person_key=f"person-{i}", share=0.1)
        for i in range(20_000)
    )
    assert other / 20_000 == pytest.approx(0.01, abs=0.005)
