"""Forms of the pages; the services validate again, these give the user errors next to fields."""

from django import forms

from accounts.models import slug_validator


class ProjectForm(forms.Form):
    slug = forms.CharField(
        max_length=50,
        validators=[slug_validator],
        help_text="Lowercase letters, digits and hyphens; it appears in URLs.",
    )
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class ExperimentForm(forms.Form):
    name = forms.CharField(max_length=500)


class DescriptionForm(forms.Form):
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}), required=False, max_length=5000
    )


class RunNameForm(forms.Form):
    name = forms.CharField(max_length=250)


class TagForm(forms.Form):
    key = forms.CharField(max_length=250)
    value = forms.CharField(max_length=8000, required=False)


class TagKeyForm(forms.Form):
    key = forms.CharField(max_length=250)
