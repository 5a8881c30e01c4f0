from __future__ import annotations

from django import forms

from accounts.roles import Role


class SecretKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=50, help_text="What uses this key, e.g. 'storefront backend'.")


class SecretKeyRevokeForm(forms.Form):
    reason = forms.CharField(max_length=200, required=False)


class MembershipRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
