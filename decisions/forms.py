"""Forms of the catalog pages: they parse what a marketer types; the services validate and save."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms
from django.forms import formset_factory

from decisions.guardrails import CONTACT_CHANNELS, PROMOTIONAL_KINDS
from decisions.models import (
    Action,
    ActionKind,
    Autonomy,
    Channel,
    GuardrailConfig,
    Policy,
    PolicyStatus,
    RiskTier,
    ValueModel,
)
from decisions.services import CatalogError

DATETIME_LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
CHANNEL_LABELS = dict(Channel.choices)


def add_catalog_errors(form: forms.Form, error: CatalogError, aliases: Mapping[str, str] | None = None) -> None:
    """Show a service's field errors next to the fields they are about; the rest above the form."""
    for name, message in error.errors.items():
        field = (aliases or {}).get(name, name)
        form.add_error(
            field if field in form.fields else None, message if field in form.fields else f"{name}: {message}"
        )


class ActionForm(forms.Form):
    key = forms.SlugField(max_length=60, help_text="Letters, digits, - and _; used by the API. Cannot change later.")
    name = forms.CharField(max_length=120)
    channel = forms.ChoiceField(choices=Channel.choices)
    kind = forms.ChoiceField(choices=ActionKind.choices)
    content_ref = forms.CharField(max_length=120, required=False, label="Content reference")
    subject = forms.CharField(max_length=200, required=False)
    content = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="{traits.first_name|there} is filled in."
    )
    value_model = forms.ChoiceField(choices=ValueModel.choices, initial=ValueModel.FIXED)
    value_amount = forms.DecimalField(max_digits=12, decimal_places=2, initial=0, min_value=0)
    value_share = forms.DecimalField(
        max_digits=6, decimal_places=4, initial=0, min_value=0, max_value=1, help_text="For a share of predicted CLV"
    )
    value_expression = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="e.g. scores.clv * 0.05"
    )
    cost = forms.DecimalField(max_digits=12, decimal_places=2, initial=0, min_value=0)
    currency = forms.CharField(max_length=3, initial="EUR")
    discount_percent = forms.DecimalField(
        max_digits=5, decimal_places=2, required=False, min_value=0, max_value=100, label="Discount %"
    )
    eligibility = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='e.g. traits.plan in ["gold", "platinum"] and scores.churn >= 0.6. Empty: everyone.',
    )
    risk_tier = forms.ChoiceField(choices=RiskTier.choices, initial=RiskTier.LOW)
    autonomy = forms.ChoiceField(choices=Autonomy.choices, initial=Autonomy.ACT_ALONE)
    active_from = forms.DateTimeField(required=False, widget=DATETIME_LOCAL)
    active_until = forms.DateTimeField(required=False, widget=DATETIME_LOCAL)
    enabled = forms.BooleanField(required=False, initial=True)
    reason = forms.CharField(max_length=500, required=False, help_text="Why this change (kept in the audit trail)")

    def __init__(self, *args: Any, action: Action | None = None, **kwargs: Any) -> None:
        if action is not None and "initial" not in kwargs:
            kwargs["initial"] = {name: getattr(action, name) for name in self.base_fields if hasattr(action, name)}
        super().__init__(*args, **kwargs)
        if action is not None:
            self.fields["key"].disabled = True
            self.fields["key"].help_text = "The key cannot change: the API and the decision log refer to it."

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("reason", None)
        if self.fields["key"].disabled:
            data.pop("key", None)
        data["currency"] = str(data.get("currency") or "EUR").upper()
        return data


class PolicyForm(forms.Form):
    key = forms.SlugField(max_length=60)
    name = forms.CharField(max_length=120)
    status = forms.ChoiceField(
        choices=PolicyStatus.choices,
        initial=PolicyStatus.DRAFT,
        help_text="Only one policy is live; making this one live retires the other.",
    )
    action_keys = forms.MultipleChoiceField(
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        label="Actions",
        help_text="None selected: every enabled action.",
    )
    weights = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "weekly_promo: 1.5"}),
        help_text="One per line, action key: multiplier on its expected value (default 1).",
    )
    explore = forms.BooleanField(required=False, initial=True, help_text="Thompson sampling; off: always the best mean")
    holdout_share = forms.FloatField(min_value=0, max_value=0.99, initial=0.1, help_text="0 to 0.99, e.g. 0.1 = 10 %")
    subscribed_events = forms.CharField(
        required=False, help_text="Comma-separated event names that trigger a decision, e.g. Cart Abandoned"
    )
    context_features = forms.CharField(
        required=False, help_text="Comma-separated dotted fields for the bandit, e.g. scores.conversion, scores.churn"
    )
    reason = forms.CharField(max_length=500, required=False)

    def __init__(self, *args: Any, action_choices: list[tuple[str, str]], policy: Policy | None = None, **kwargs: Any):
        if policy is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "key": policy.key,
                "name": policy.name,
                "status": policy.status,
                "action_keys": list(policy.action_keys or []),
                "weights": "\n".join(f"{k}: {v:g}" for k, v in (policy.weights or {}).items()),
                "explore": policy.explore,
                "holdout_share": policy.holdout_share,
                "subscribed_events": ", ".join(policy.subscribed_events or []),
                "context_features": ", ".join(policy.context_features or []),
            }
        super().__init__(*args, **kwargs)
        known = {k for k, _ in action_choices}
        extra = [
            (k, f"{k} (not in the catalog)") for k in (policy.action_keys if policy else []) or [] if k not in known
        ]
        self.fields["action_keys"].choices = [*action_choices, *extra]  # type: ignore[attr-defined]
        if policy is not None:
            self.fields["key"].disabled = True

    def clean_weights(self) -> dict[str, float]:
        weights: dict[str, float] = {}
        for number, line in enumerate(str(self.cleaned_data.get("weights") or "").splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = line.partition(":")
            try:
                weight = float(value)
            except ValueError:
                weight = -1.0
            if not sep or not key.strip() or weight < 0:
                raise forms.ValidationError(
                    f"line {number}: write it as action_key: multiplier, e.g. weekly_promo: 1.5"
                )
            weights[key.strip()] = weight
        return weights

    @staticmethod
    def _names(value: str) -> list[str]:
        return [part.strip() for part in str(value or "").split(",") if part.strip()]

    def clean_subscribed_events(self) -> list[str]:
        return self._names(self.cleaned_data.get("subscribed_events", ""))

    def clean_context_features(self) -> list[str]:
        return self._names(self.cleaned_data.get("context_features", ""))

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("reason", None)
        if self.fields["key"].disabled:
            data.pop("key", None)
        return data


class GuardrailsForm(forms.Form):
    overall_day = forms.IntegerField(
        min_value=0,
        max_value=1000,
        label="All channels per day",
        widget=forms.NumberInput(attrs={"aria-label": "All channels per day"}),
    )
    overall_week = forms.IntegerField(
        min_value=0,
        max_value=5000,
        label="All channels per week",
        widget=forms.NumberInput(attrs={"aria-label": "All channels per week"}),
    )
    quiet_start = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    quiet_end = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    quiet_channels = forms.MultipleChoiceField(
        required=False,
        choices=[(c, CHANNEL_LABELS[c]) for c in CONTACT_CHANNELS],
        widget=forms.CheckboxSelectMultiple,
        help_text="Channels that wait during quiet hours (in the person's time zone).",
    )
    banned_phrases = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="One per line; matched ignoring case."
    )
    max_discount_percent = forms.DecimalField(
        required=False, min_value=0, max_value=100, decimal_places=2, label="Discount ceiling %"
    )

    def __init__(self, *args: Any, config: GuardrailConfig | None = None, **kwargs: Any) -> None:
        from decisions.guardrails import ContactPolicy

        super().__init__(*args, **kwargs)
        defaults = ContactPolicy()
        for channel in CONTACT_CHANNELS:
            label = CHANNEL_LABELS[channel]
            for prefix, word, top in (("day", "day", 1000), ("week", "week", 5000)):
                self.fields[f"{prefix}_{channel}"] = forms.IntegerField(
                    min_value=0,
                    max_value=top,
                    label=f"{label} per {word}",
                    widget=forms.NumberInput(attrs={"aria-label": f"{label} per {word}"}),
                )
            self.fields[f"required_{channel}"] = forms.CharField(
                required=False, max_length=300, label=f"{label} must contain"
            )
        if config is not None and not self.is_bound:
            policy = config.contact_policy or {}
            brand = config.brand_safety or {}
            day = {**defaults.per_channel_day, **policy.get("per_channel_day", {})}
            week = {**defaults.per_channel_week, **policy.get("per_channel_week", {})}
            initial: dict[str, Any] = {
                "overall_day": policy.get("overall_day", defaults.overall_day),
                "overall_week": policy.get("overall_week", defaults.overall_week),
                "quiet_start": policy.get(
                    "quiet_start", defaults.quiet_start.isoformat() if defaults.quiet_start else None
                ),
                "quiet_end": policy.get("quiet_end", defaults.quiet_end.isoformat() if defaults.quiet_end else None),
                "quiet_channels": list(policy.get("quiet_channels", defaults.quiet_channels)),
                "banned_phrases": "\n".join(brand.get("banned_phrases", [])),
                "max_discount_percent": brand.get("max_discount_percent"),
            }
            for channel in CONTACT_CHANNELS:
                initial[f"day_{channel}"] = day.get(channel, 0)
                initial[f"week_{channel}"] = week.get(channel, 0)
                initial[f"required_{channel}"] = (brand.get("required_text") or {}).get(channel, "")
            self.initial = initial

    def caps(self) -> list[dict[str, Any]]:
        return [
            {
                "label": CHANNEL_LABELS[c],
                "day": self[f"day_{c}"],
                "week": self[f"week_{c}"],
                "required": self[f"required_{c}"],
            }
            for c in CONTACT_CHANNELS
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("quiet_start")) != bool(data.get("quiet_end")):
            self.add_error("quiet_end", "Give both the start and the end of quiet hours, or leave both empty for none.")
        for channel in CONTACT_CHANNELS:
            day, week = data.get(f"day_{channel}"), data.get(f"week_{channel}")
            if day is not None and week is not None and week < day:
                self.add_error(f"week_{channel}", "The weekly cap cannot be below the daily cap.")
        return data

    def contact_policy(self) -> dict[str, Any]:
        data = self.cleaned_data
        start, end = data.get("quiet_start"), data.get("quiet_end")
        return {
            "per_channel_day": {c: data[f"day_{c}"] for c in CONTACT_CHANNELS},
            "per_channel_week": {c: data[f"week_{c}"] for c in CONTACT_CHANNELS},
            "overall_day": data["overall_day"],
            "overall_week": data["overall_week"],
            "quiet_start": start.strftime("%H:%M") if start else None,
            "quiet_end": end.strftime("%H:%M") if end else None,
            "quiet_channels": list(data.get("quiet_channels") or []),
        }

    def brand_safety(self) -> dict[str, Any]:
        data = self.cleaned_data
        ceiling: Decimal | None = data.get("max_discount_percent")
        return {
            "banned_phrases": [p.strip() for p in str(data.get("banned_phrases") or "").splitlines() if p.strip()],
            "max_discount_percent": float(ceiling) if ceiling is not None else None,
            "required_text": {
                c: data[f"required_{c}"].strip() for c in CONTACT_CHANNELS if data[f"required_{c}"].strip()
            },
        }


class SuppressionRuleForm(forms.Form):
    event = forms.CharField(max_length=100, required=False, label="Event name")
    hours = forms.DecimalField(
        min_value=Decimal("0.1"), max_value=8760, decimal_places=1, required=False, label="Pause for (hours)"
    )
    reason = forms.CharField(max_length=200, required=False, help_text="Shown in explanations: 'after ...'")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("event") and data.get("hours") is None and "hours" not in self.errors:
            self.add_error("hours", "How long should promotions pause after this event?")
        if data.get("hours") is not None and not data.get("event"):
            self.add_error("event", "Name the event that opens the window.")
        return data


SuppressionRuleFormSet = formset_factory(SuppressionRuleForm, extra=2, can_delete=True, max_num=50)


def suppression_initial(config: GuardrailConfig) -> list[dict[str, Any]]:
    return [
        {"event": r.get("event", ""), "hours": r.get("hours", 48), "reason": r.get("reason", "")}
        for r in config.suppression_rules or []
    ]


def suppression_rules(formset: Any, config: GuardrailConfig) -> list[dict[str, Any]]:
    """Rules from the formset, keeping the kinds and channels of an existing rule for the same event."""
    existing = {r.get("event"): r for r in config.suppression_rules or []}
    rules = []
    for form in formset.forms:
        data = form.cleaned_data
        if not data or data.get("DELETE") or not data.get("event"):
            continue
        before = existing.get(data["event"], {})
        rules.append(
            {
                "event": data["event"].strip(),
                "hours": float(data["hours"]),
                "kinds": before.get("kinds", list(PROMOTIONAL_KINDS)),
                "channels": before.get("channels", []),
                "reason": data.get("reason") or data["event"],
            }
        )
    return rules
