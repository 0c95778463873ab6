"""Projects in the admin, created like everywhere else with their owner and Default experiment."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from accounts.admin import MembershipFormSet, save_memberships
from accounts.models import Membership, Project, User
from tracking.services.projects import project_create


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipFormSet
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


class ProjectCreationForm(forms.ModelForm):
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        help_text="Becomes the project's first manager.",
    )

    class Meta:
        model = Project
        fields = ["slug", "name", "description"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    """Projects, created like everywhere else with their owner as manager and a Default
    experiment; here because that needs tracking, which accounts must not depend on."""

    list_display = ("slug", "name", "created_at")
    search_fields = ("slug", "name")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ProjectCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "slug", "description", "owner"]
        return ["slug", "name", "description", "created_at"]

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if obj is None else {}

    def get_readonly_fields(self, request, obj=None):
        # The slug is in every URL of the project: in bookmarks, scripts and links people share.
        return ["slug", "created_at"] if obj is not None else []

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request, obj=None) -> bool:
        # Django's confirmation page loads every object a delete would cascade to, which for a
        # project means every metric point it ever logged.
        return False

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is Membership:
            save_memberships(request, formset)
        else:
            super().save_formset(request, form, formset, change)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = project_create(
            slug=obj.slug,
            name=obj.name,
            description=obj.description,
            owner=form.cleaned_data["owner"],
        )
        obj.pk = created.pk
        obj.created_at = created.created_at
