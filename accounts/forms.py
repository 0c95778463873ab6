"""Forms of the account pages; they validate input, services do the writing."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordChangeForm as DjangoPasswordChangeForm
from django.contrib.auth.forms import UserCreationForm
from django.utils import timezone

from .models import ApiToken, Role, TokenScope, User
from .selectors import token_projects_for

MAX_TOKEN_DAYS = 3650


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=ApiToken._meta.get_field("name").max_length,
        help_text="What the token is for, e.g. “ray-tune cluster”.",
    )
    project = forms.ModelChoiceField(queryset=None, to_field_name="slug", empty_label=None)
    scope = forms.ChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.WRITE,
        help_text="Read: look only. Write: log runs and register models (editors). "
        "Manage: also delete models and versions (managers).",
    )
    expires_in_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_TOKEN_DAYS,
        label="Expires in (days)",
        help_text="Leave empty for a token that does not expire.",
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = token_projects_for(user=user)

    def expires_at(self) -> datetime | None:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None


class MemberAddForm(forms.Form):
    identifier = forms.CharField(label="Username or email", max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=True)

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class PasswordChangeForm(DjangoPasswordChangeForm):
    """Django's form, with the old password checked through authenticate(): django-axes then
    counts wrong ones and locks the user out from that address, as on the log-in form, and a
    stolen session cannot try passwords without limit."""

    def __init__(self, user, *args, request=None, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        checked = authenticate(
            self.request, username=self.user.get_username(), password=old_password
        )
        if checked is None or checked.pk != self.user.pk:
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password
