from __future__ import annotations

from typing import Any

from django import forms

IDENTIFIER_KINDS = (("email", "Email"), ("user_id", "User id"), ("phone", "Phone"))


class MarkedErrorsForm(forms.Form):
    """Fields with errors carry aria-invalid and point at their message, for screen readers."""

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"id_{name}_error"


class TicketForm(MarkedErrorsForm):
    kind = forms.ChoiceField(choices=IDENTIFIER_KINDS, initial="email", label="Find the person by")
    identifier = forms.CharField(max_length=255, label="Email, user id or phone")
    subject = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), required=False, max_length=20000)
    tags = forms.CharField(max_length=400, required=False, help_text="Comma-separated, e.g. payment failure, vip")

    def tag_list(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data.get("tags", "").split(",") if t.strip()]


class LeadForm(MarkedErrorsForm):
    kind = forms.ChoiceField(choices=IDENTIFIER_KINDS, initial="email", label="Find the person by")
    identifier = forms.CharField(max_length=255, label="Email, user id or phone")
    account = forms.CharField(max_length=200, required=False, help_text="Company; taken from the profile when empty")
    task = forms.CharField(max_length=300, required=False, label="Next step")


class AgentForm(MarkedErrorsForm):
    user = forms.ChoiceField(label="Member", help_text="Support agents, owners and admins")
    team = forms.ChoiceField()
    skills = forms.CharField(max_length=400, required=False, help_text="Comma-separated, e.g. vip, lang:de")
    capacity = forms.IntegerField(min_value=0, max_value=500, initial=10, help_text="Open items at most")
    available = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, members: list[tuple[str, str]], teams: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        user_field, team_field = self.fields["user"], self.fields["team"]
        assert isinstance(user_field, forms.ChoiceField) and isinstance(team_field, forms.ChoiceField)
        user_field.choices = members
        team_field.choices = teams

    def skill_list(self) -> list[str]:
        return [s.strip() for s in self.cleaned_data.get("skills", "").split(",") if s.strip()]
