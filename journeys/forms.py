"""Forms of the signal and playbook pages: they parse JSON and text; the services validate."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from journeys.models import Playbook, Signal, SignalKind
from journeys.services import JourneyError

JSON_WIDGET = forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "code"})


def add_journey_errors(form: forms.Form, error: JourneyError) -> None:
    """Errors such as ``definition.count`` or ``steps.2.endpoint`` go under the field they are
    about (definition, steps), naming the part; the rest above the form."""
    for name, message in error.errors.items():
        field, _, part = name.partition(".")
        if field in form.fields:
            form.add_error(field, f"{part}: {message}" if part else message)
        else:
            form.add_error(None, f"{name}: {message}")


class JsonField(forms.CharField):
    def __init__(self, *, expect: type, **kwargs: Any) -> None:
        kwargs.setdefault("widget", JSON_WIDGET)
        super().__init__(**kwargs)
        self.expect = expect

    def clean(self, value: Any) -> Any:
        text = super().clean(value)
        try:
            parsed = json.loads(text or ("[]" if self.expect is list else "{}"))
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
        if not isinstance(parsed, self.expect):
            raise forms.ValidationError("must be a JSON list" if self.expect is list else "must be a JSON object")
        return parsed


class SignalForm(forms.Form):
    name = forms.CharField(max_length=120)
    key = forms.SlugField(max_length=60, help_text="Letters, digits, - and _. Cannot change later.")
    kind = forms.ChoiceField(choices=SignalKind.choices)
    definition = JsonField(
        expect=dict,
        help_text='event_count: {"event": "payment_failed", "count": 3, "window_minutes": 10} · '
        'trait_change: {"trait": "plan", "to": "free"} · score_change: {"score": "clv", "rule": "dropped", '
        '"share": 0.3} or {"score": "churn", "rule": "above", "threshold": 0.7} · '
        'absence: {"event": "login", "days": 14}',
    )
    condition = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "scores.clv_percentile >= 0.8"}),
        help_text="Optional, over traits, scores (with <kind>_percentile) and context, e.g. scores.churn >= 0.5",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    enabled = forms.BooleanField(required=False, initial=True)
    reason = forms.CharField(max_length=500, required=False, help_text="Why this change (kept in the history)")

    def __init__(self, *args: Any, signal: Signal | None = None, **kwargs: Any) -> None:
        if signal is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": signal.name,
                "key": signal.key,
                "kind": signal.kind,
                "definition": json.dumps(signal.definition, indent=2),
                "condition": signal.condition,
                "description": signal.description,
                "enabled": signal.enabled,
            }
        super().__init__(*args, **kwargs)
        if signal is not None:
            self.fields["key"].disabled = True

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {k: data[k] for k in ("name", "key", "kind", "definition", "condition", "description", "enabled")}


class PlaybookForm(forms.Form):
    name = forms.CharField(max_length=120)
    key = forms.SlugField(max_length=60, help_text="Letters, digits, - and _. Cannot change later.")
    goal = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    signal = forms.ModelChoiceField(queryset=Signal.objects.none(), to_field_name="key", help_text="What starts it")
    steps = JsonField(
        expect=list,
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "code"}),
        help_text='In order. Types: suppress {"event"}, in_app {"subject", "body", "link_url", "link_label"}, '
        'ticket {"subject", "body", "tags"}, webhook {"endpoint", "event_type", "data"}; each may set '
        '"risk_tier" (high waits for approval) and "key" (its name in the decision log).',
    )
    reentry_hours = forms.FloatField(
        min_value=0,
        initial=24,
        label="Re-entry window (hours)",
        help_text="No second run for one person within this time",
    )
    enabled = forms.BooleanField(required=False, initial=True)
    reason = forms.CharField(max_length=500, required=False, help_text="Why this change (kept in the history)")

    def __init__(self, *args: Any, signals: Any, playbook: Playbook | None = None, **kwargs: Any) -> None:
        if playbook is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": playbook.name,
                "key": playbook.key,
                "goal": playbook.goal,
                "signal": playbook.signal.key,
                "steps": json.dumps(playbook.steps, indent=2, ensure_ascii=False),
                "reentry_hours": playbook.reentry_hours,
                "enabled": playbook.enabled,
            }
        super().__init__(*args, **kwargs)
        self.fields["signal"].queryset = signals  # type: ignore[attr-defined]
        if playbook is not None:
            self.fields["key"].disabled = True

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {k: data[k] for k in ("name", "key", "goal", "signal", "steps", "reentry_hours", "enabled")}
