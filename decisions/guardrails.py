"""Guardrails: rules that remove candidates before any scoring, and are never traded for score.

Each check looks at one candidate and returns the reasons it must not be used now (an empty
list when it may). The engine records every removal with its reason. Checks are pure: the
caller loads the person's consent, recent contacts and suppressions first (from the database,
under a lock for the contact counts), so the same inputs always give the same answer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Channels that reach the person and so need consent and count against contact caps.
CONTACT_CHANNELS = ("email", "sms", "push", "in_app")
# Kinds of action a suppression window pauses (service and retention help still flow).
PROMOTIONAL_KINDS = ("offer", "message", "sales")


@dataclass(frozen=True)
class ContactPolicy:
    per_channel_day: Mapping[str, int] = field(default_factory=lambda: {"email": 1, "sms": 1, "push": 2, "in_app": 4})
    per_channel_week: Mapping[str, int] = field(default_factory=lambda: {"email": 3, "sms": 2, "push": 6, "in_app": 12})
    overall_day: int = 4
    overall_week: int = 12
    quiet_start: time | None = time(21, 0)
    quiet_end: time | None = time(8, 0)
    quiet_channels: Sequence[str] = ("sms", "push", "email")  # in-app only shows while they are on the site


@dataclass(frozen=True)
class BrandSafety:
    banned_phrases: Sequence[str] = ()
    max_discount_percent: float | None = None
    required_text: Mapping[str, str] = field(default_factory=dict)  # channel -> text that must appear


@dataclass(frozen=True)
class Suppression:
    reason: str
    until: datetime
    kinds: Sequence[str] = PROMOTIONAL_KINDS
    channels: Sequence[str] = ()  # empty: every channel


@dataclass(frozen=True)
class ContactLog:
    """Contacts already made to this person (decisions acted on), as (channel, when)."""

    contacts: Sequence[tuple[str, datetime]] = ()

    def count(self, *, since: datetime, channel: str | None = None) -> int:
        if not self.contacts:
            return 0
        return sum(1 for ch, at in self.contacts if at >= since and (channel is None or ch == channel))


@dataclass  # one per candidate of every decision: not frozen, whose __init__ costs three times as much
class CandidateAction:
    key: str
    channel: str
    kind: str
    content: str = ""
    discount_percent: float | None = None


@dataclass(frozen=True)
class PersonState:
    consent: Mapping[str, bool]  # channel -> granted; a missing channel is not granted
    timezone: str = "UTC"
    contacts: ContactLog = field(default_factory=ContactLog)
    suppressions: Sequence[Suppression] = ()


@dataclass(frozen=True)
class Removal:
    action: str
    guardrail: str
    reason: str


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@functools.lru_cache(maxsize=1024)  # asked once per candidate with the same arguments
def in_quiet_hours(now: datetime, timezone_name: str, start: time, end: time) -> bool:
    local = now.astimezone(_zone(timezone_name)).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # the window crosses midnight


def check_consent(action: CandidateAction, person: PersonState) -> list[str]:
    if action.channel in CONTACT_CHANNELS and not person.consent.get(action.channel, False):
        return [f"no {action.channel.replace('_', '-')} consent"]
    return []


def check_contact_policy(
    action: CandidateAction, person: PersonState, policy: ContactPolicy, now: datetime
) -> list[str]:
    if action.channel not in CONTACT_CHANNELS:
        return []
    reasons = []
    day, week = now - timedelta(days=1), now - timedelta(days=7)
    contacts = person.contacts
    channel_day = policy.per_channel_day.get(action.channel)
    if channel_day is not None and contacts.count(since=day, channel=action.channel) >= channel_day:
        reasons.append(f"{action.channel} cap of {channel_day} per day reached")
    channel_week = policy.per_channel_week.get(action.channel)
    if channel_week is not None and contacts.count(since=week, channel=action.channel) >= channel_week:
        reasons.append(f"{action.channel} cap of {channel_week} per week reached")
    if contacts.contacts and contacts.count(since=day) >= policy.overall_day:
        reasons.append(f"overall cap of {policy.overall_day} contacts per day reached")
    if contacts.contacts and contacts.count(since=week) >= policy.overall_week:
        reasons.append(f"overall cap of {policy.overall_week} contacts per week reached")
    if (
        policy.quiet_start is not None
        and policy.quiet_end is not None
        and action.channel in policy.quiet_channels
        and in_quiet_hours(now, person.timezone, policy.quiet_start, policy.quiet_end)
    ):
        reasons.append(f"quiet hours ({policy.quiet_start:%H:%M}-{policy.quiet_end:%H:%M} in {person.timezone})")
    return reasons


def check_suppressions(action: CandidateAction, person: PersonState, now: datetime) -> list[str]:
    reasons = []
    for window in person.suppressions:
        if window.until <= now:
            continue
        if action.kind not in window.kinds:
            continue
        if window.channels and action.channel not in window.channels:
            continue
        hours = max(1, round((window.until - now).total_seconds() / 3600))
        reasons.append(f"{action.kind}s paused for {hours} more h after {window.reason}")
    return reasons


@functools.lru_cache(maxsize=1024)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    return re.compile(r"\b" + re.escape(phrase.casefold()) + r"\b")


def check_brand_safety(action: CandidateAction, rules: BrandSafety) -> list[str]:
    reasons = []
    text = action.content.casefold()
    for phrase in rules.banned_phrases:
        if phrase and _phrase_pattern(phrase).search(text):
            reasons.append(f"content contains the banned phrase '{phrase}'")
    if (
        rules.max_discount_percent is not None
        and action.discount_percent is not None
        and action.discount_percent > rules.max_discount_percent
    ):
        reasons.append(
            f"discount of {action.discount_percent:g}% is above the ceiling of {rules.max_discount_percent:g}%"
        )
    required = rules.required_text.get(action.channel)
    if required and required.casefold() not in text:
        reasons.append(f"{action.channel} content lacks the required text '{required}'")
    return reasons


def apply_guardrails(
    candidates: Iterable[CandidateAction],
    person: PersonState,
    *,
    policy: ContactPolicy,
    brand: BrandSafety,
    now: datetime,
) -> tuple[list[CandidateAction], list[Removal]]:
    """Split candidates into the ones that may be used and the removals with their reasons."""
    kept: list[CandidateAction] = []
    removed: list[Removal] = []
    # Consent and contact policy depend only on the channel, suppressions on (kind, channel): with
    # dozens of candidates over a handful of channels, work them out once each.
    by_channel: dict[str, list[tuple[str, str]]] = {}
    by_kind_channel: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for action in candidates:
        channel_found = by_channel.get(action.channel)
        if channel_found is None:
            channel_found = by_channel[action.channel] = [
                *(("consent", r) for r in check_consent(action, person)),
                *(("contact_policy", r) for r in check_contact_policy(action, person, policy, now)),
            ]
        pair = (action.kind, action.channel)
        suppression_found = by_kind_channel.get(pair)
        if suppression_found is None:
            suppression_found = by_kind_channel[pair] = [
                ("suppression", r) for r in check_suppressions(action, person, now)
            ]
        found = [
            *channel_found,
            *suppression_found,
            *(("brand_safety", r) for r in check_brand_safety(action, brand)),
        ]
        if found:
            removed.extend(Removal(action.key, guardrail, reason) for guardrail, reason in found)
        else:
            kept.append(action)
    return kept, removed
