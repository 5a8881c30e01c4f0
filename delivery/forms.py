from __future__ import annotations

from typing import Any

from django import forms

from delivery.models import WebhookEndpoint


class WebhookEndpointForm(forms.Form):
    key = forms.SlugField(max_length=60, help_text="How playbooks name it, e.g. erp; sms and push name the providers")
    url = forms.URLField(max_length=500, label="URL", assume_scheme="https")
    event_types = forms.CharField(
        required=False,
        label="Event types",
        help_text="Comma-separated, e.g. decision.acted, cart.hold; empty receives every type",
    )
    description = forms.CharField(max_length=200, required=False)
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, endpoint: WebhookEndpoint | None = None, **kwargs: Any) -> None:
        if endpoint is not None and not args:
            kwargs.setdefault(
                "initial",
                {
                    "key": endpoint.key,
                    "url": endpoint.url,
                    "event_types": ", ".join(endpoint.event_types),
                    "description": endpoint.description,
                    "enabled": endpoint.enabled,
                },
            )
        super().__init__(*args, **kwargs)

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "key": data["key"],
            "url": data["url"],
            "event_types": [t.strip() for t in data.get("event_types", "").split(",") if t.strip()],
            "description": data.get("description", ""),
            "enabled": bool(data.get("enabled")),
        }
