"""Pure rules of the identity graph and golden record: which identifiers an observation
carries, how identifier values are normalised, and how competing trait and consent values
are combined. No database access here; ``profiles.services`` applies these rules."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from profiles.features import FeatureEvent
from profiles.models import ConsentChannel, IdentifierKind

Key = tuple[str, str]  # (IdentifierKind, normalised value)

VALUE_MAX = 255
MAX_MERGE_CHAIN = 50  # tombstones followed at most (each merge re-points identifiers, so chains stay short)
CHANNELS: tuple[str, ...] = tuple(ConsentChannel.values)

# Sources of trait values. A higher rank wins over a lower one whatever the timestamps; at
# equal rank the later timestamp wins. Overridable with settings.PROFILE_TRAIT_SOURCE_PRECEDENCE.
SOURCE_API = "api"
SOURCE_IDENTIFY = "identify"
SOURCE_CONTEXT = "context"
DEFAULT_PRECEDENCE: dict[str, int] = {SOURCE_API: 30, SOURCE_IDENTIFY: 20, SOURCE_CONTEXT: 10}

_PHONE_STRIP = re.compile(r"[\s().\-/]")
_MISSING = object()


@dataclass(slots=True)
class Observation:
    """One stored event as the identity graph sees it."""

    ref: int  # the caller's reference, echoed back with the resolved profile id
    timestamp: datetime
    anonymous_id: str | None = None
    user_id: str | None = None
    previous_id: str | None = None  # alias: the id the person was known by before
    device_id: str | None = None
    external_ids: Sequence[tuple[str, str]] = ()  # (type, id) from context.externalIds
    traits: Mapping[str, Any] | None = None  # person traits (identify traits, context.traits)
    trait_source: str = SOURCE_CONTEXT
    group_id: str | None = None
    group_traits: Mapping[str, Any] | None = None
    feature: FeatureEvent | None = None
    keys: list[Key] = field(default_factory=list)


def at_str(moment: datetime) -> str:
    """Fixed-width UTC timestamps, so provenance times compare correctly as strings."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalise_email(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    if len(email) > VALUE_MAX or "@" not in email or email.startswith("@") or email.endswith("@"):
        return None
    return email


def normalise_phone(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    phone = _PHONE_STRIP.sub("", str(value).strip())
    digits = phone[1:] if phone.startswith("+") else phone
    if not digits.isdigit() or not 6 <= len(digits) <= 20:
        return None
    return phone


def normalise(kind: str, value: Any) -> str | None:
    """The stored form of an identifier value, or None when it cannot be one."""
    if kind == IdentifierKind.EMAIL:
        return normalise_email(value)
    if kind == IdentifierKind.PHONE:
        return normalise_phone(value)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    return text if 0 < len(text) <= VALUE_MAX and "\x00" not in text else None


def observation_keys(observation: Observation) -> list[Key]:
    """Every identifier the observation carries. An alias's ``previousId`` may be an earlier
    user id or an anonymous id, so it is looked up (and recorded) as both."""
    keys: list[Key] = []
    candidates: list[tuple[str, Any]] = [
        (IdentifierKind.ANONYMOUS_ID, observation.anonymous_id),
        (IdentifierKind.USER_ID, observation.user_id),
        (IdentifierKind.USER_ID, observation.previous_id),
        (IdentifierKind.ANONYMOUS_ID, observation.previous_id),
        (IdentifierKind.DEVICE_ID, observation.device_id),
    ]
    if observation.traits:
        candidates.append((IdentifierKind.EMAIL, observation.traits.get("email")))
        candidates.append((IdentifierKind.PHONE, observation.traits.get("phone")))
    candidates.extend((IdentifierKind.CUSTOM, f"{kind}:{value}") for kind, value in observation.external_ids)
    for kind, raw in candidates:
        if raw is None:
            continue
        value = normalise(kind, raw)
        if value is not None and (kind, value) not in keys:
            keys.append((str(kind), value))
    return keys


def trait_precedence() -> dict[str, int]:
    return {**DEFAULT_PRECEDENCE, **getattr(settings, "PROFILE_TRAIT_SOURCE_PRECEDENCE", {})}


def trait_wins(
    *, source: str, at: str, current: Mapping[str, Any] | None, precedence: Mapping[str, int], ties_win: bool
) -> bool:
    """Whether a value from ``source`` at time ``at`` replaces the value described by
    ``current`` ({"source", "at"}): higher source rank wins; at equal rank the later time wins;
    an exact tie goes to the newcomer only when ``ties_win`` (incoming events: yes, merges: no,
    so the survivor keeps its value and merges stay deterministic)."""
    if current is None:
        return True
    mine, theirs = precedence.get(source, 0), precedence.get(current.get("source", ""), 0)
    if mine != theirs:
        return mine > theirs
    current_at = current.get("at", "")
    return at > current_at or (ties_win and at == current_at)


def traits_apply(
    *,
    traits: dict[str, Any],
    meta: dict[str, Any],
    incoming: Mapping[str, Any],
    source: str,
    at: str,
    precedence: Mapping[str, int],
) -> bool:
    """Apply ``incoming`` traits in place; True when anything changed."""
    changed = False
    for name, value in incoming.items():
        if trait_wins(source=source, at=at, current=meta.get(name), precedence=precedence, ties_win=True):
            stamp = {"source": source, "at": at}
            if traits.get(name, _MISSING) != value or meta.get(name) != stamp:
                changed = True
            traits[name] = value
            meta[name] = stamp
    return changed


def traits_combine(
    *,
    traits: dict[str, Any],
    meta: dict[str, Any],
    other_traits: Mapping[str, Any],
    other_meta: Mapping[str, Any],
    precedence: Mapping[str, int],
) -> None:
    """Fold a merged-away profile's traits into the survivor's, trait by trait."""
    for name, value in other_traits.items():
        theirs = other_meta.get(name) or {"source": "", "at": ""}
        if trait_wins(
            source=theirs.get("source", ""),
            at=theirs.get("at", ""),
            current=meta.get(name),
            precedence=precedence,
            ties_win=False,
        ):
            traits[name] = value
            meta[name] = dict(theirs)


def consent_from_traits(traits: Mapping[str, Any]) -> dict[str, bool]:
    """Consent carried in traits: ``consent: {"email": true, "sms": {"granted": false}}`` or flat
    ``email_consent: true`` (channels: email, sms, push, in_app). Non-booleans are ignored."""
    found: dict[str, bool] = {}
    nested = traits.get("consent")
    if isinstance(nested, Mapping):
        for channel in CHANNELS:
            value = nested.get(channel)
            if isinstance(value, Mapping):
                value = value.get("granted")
            if isinstance(value, bool):
                found[channel] = value
    for channel in CHANNELS:
        flat = traits.get(f"{channel}_consent")
        if isinstance(flat, bool):
            found[channel] = flat
    return found


def consent_apply(*, consent: dict[str, Any], changes: Mapping[str, bool], source: str, at: str) -> bool:
    """Per channel the latest statement wins, whatever its source (a person's most recent
    choice is the one that counts). True when anything changed."""
    changed = False
    for channel, granted in changes.items():
        current = consent.get(channel)
        if current is None or at >= current.get("at", ""):
            if current is None or current.get("granted") != granted:
                changed = True
            consent[channel] = {"granted": granted, "source": source, "at": at}
    return changed


def consent_combine(*, consent: dict[str, Any], other: Mapping[str, Any]) -> None:
    for channel, theirs in other.items():
        current = consent.get(channel)
        if current is None or theirs.get("at", "") > current.get("at", ""):
            consent[channel] = dict(theirs)


def groups_apply(*, groups: dict[str, Any], group_id: str, traits: Mapping[str, Any] | None, at: str) -> bool:
    current = groups.get(group_id)
    if current is not None and current.get("at", "") > at:
        return False
    groups[group_id] = {"traits": {**(current or {}).get("traits", {}), **(traits or {})}, "at": at}
    return True


def groups_combine(*, groups: dict[str, Any], other: Mapping[str, Any]) -> None:
    for group_id, theirs in other.items():
        current = groups.get(group_id)
        if current is None or theirs.get("at", "") > current.get("at", ""):
            groups[group_id] = dict(theirs)


def keys_describe(keys: Iterable[Key], limit: int = 10) -> list[str]:
    return [f"{kind}:{value}" for kind, value in list(keys)[:limit]]
