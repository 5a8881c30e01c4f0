"""Personalised content and its brand-safety check, with the decision engine's own rules.

Placeholders are the engine's (``{traits.first_name|there}``, filled by ``decisions.engine.render``)
and the check is ``decisions.guardrails.check_brand_safety`` over the workspace's guardrail
configuration, so a message a playbook sends obeys the same rules as one a decision chose.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accounts.models import Workspace
from decisions.engine import render
from decisions.guardrails import BrandSafety, CandidateAction, check_brand_safety
from decisions.services import guardrail_config
from profiles.models import Profile


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    link_url: str = ""
    link_label: str = ""


def render_data(profile: Profile | None, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "traits": (profile.traits or {}) if profile is not None else {},
        "profile": {"id": str(profile.id)} if profile is not None else {},
        "context": dict(context or {}),
    }


def content_render(
    *,
    subject: str,
    body: str,
    profile: Profile | None,
    context: Mapping[str, Any] | None = None,
    link_url: str = "",
    link_label: str = "",
) -> Rendered:
    data = render_data(profile, context)
    return Rendered(
        subject=render(subject, data),
        body=render(body, data),
        link_url=render(link_url, data),
        link_label=render(link_label, data),
    )


def brand_safety_rules(workspace: Workspace) -> BrandSafety:
    config = guardrail_config(workspace).brand_safety or {}
    ceiling = config.get("max_discount_percent")
    return BrandSafety(
        banned_phrases=tuple(config.get("banned_phrases", ())),
        max_discount_percent=float(ceiling) if ceiling is not None else None,
        required_text=dict(config.get("required_text", {})),
    )


def brand_safety_problems(*, workspace: Workspace, channel: str, subject: str, body: str) -> list[str]:
    """Reasons the content must not go out (empty when it may)."""
    candidate = CandidateAction(key="delivery", channel=channel, kind="message", content=f"{subject}\n{body}")
    return check_brand_safety(candidate, brand_safety_rules(workspace))
