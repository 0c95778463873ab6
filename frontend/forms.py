"""Forms of the pages; the services validate again, these give the user errors next to fields.

Their rules are tracking.validation's, so a page refuses exactly what the APIs refuse.
"""

from collections.abc import Callable

from django import forms

from accounts.models import slug_validator
from tracking.errors import InvalidInput
from tracking.validation import (
    MAX_DESCRIPTION_LENGTH,
    MAX_EXPERIMENT_NAME_LENGTH,
    validate_description,
    validate_experiment_name,
)


def rule(check: Callable[[str], object]) -> Callable[[str], None]:
    """A form validator from one of tracking.validation's checks."""

    def validator(value: str) -> None:
        try:
            check(value)
        except InvalidInput as error:
            raise forms.ValidationError(error.message) from None

    return validator


class ProjectForm(forms.Form):
    slug = forms.CharField(
        max_length=50,
        validators=[slug_validator],
        help_text="Lowercase letters, digits and hyphens; it appears in URLs.",
    )
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class ExperimentForm(forms.Form):
    # Unstripped, so a page refuses exactly what the APIs refuse.
    name = forms.CharField(
        max_length=MAX_EXPERIMENT_NAME_LENGTH,
        strip=False,
        validators=[rule(validate_experiment_name)],
    )


class DescriptionForm(forms.Form):
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        max_length=MAX_DESCRIPTION_LENGTH,
        validators=[rule(validate_description)],
    )


class RunNameForm(forms.Form):
    name = forms.CharField(max_length=250)


class TagForm(forms.Form):
    key = forms.CharField(max_length=250)
    value = forms.CharField(max_length=8000, required=False)


class TagKeyForm(forms.Form):
    key = forms.CharField(max_length=250)
