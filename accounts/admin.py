"""Django admin for identity and tenancy: users, memberships, API tokens and the audit trail.

Projects are registered in tracking/admin/projects.py: creating one also creates its Default
experiment, which accounts must not know about (the same reason project_create lives in tracking).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.forms.models import BaseInlineFormSet
from django.utils.functional import cached_property

from .models import ApiToken, AuditEvent, Membership, Role, User
from .services import (
    membership_add,
    membership_change_role,
    membership_remove,
    token_revoke,
)
from .token_cache import forget_cached_tokens

LAST_MANAGER = "A project needs at least one manager: make someone else manager first."


class CappedCountPaginator(Paginator):
    """A paginator that counts at most `cap` rows.

    COUNT(*) over a table of millions of rows is what makes a changelist slow; counting through
    a LIMIT keeps the cost bounded, at the price of showing at most `cap` results (100 pages).
    """

    cap = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: self.cap].count()


def is_last_manager(membership: Membership) -> bool:
    if membership.pk is None or membership.role != Role.MANAGER:
        return False
    managers = Membership.objects.filter(project_id=membership.project_id, role=Role.MANAGER)
    return not managers.exclude(pk=membership.pk).exists()


def save_memberships(request, formset) -> None:
    """Apply a membership formset through the services, so each change is checked and audited.

    Additions and promotions go first, so that handing the manager role from one member to
    another in a single save never leaves the project without a manager on the way.
    """
    formset.save(commit=False)
    for membership in formset.new_objects:
        membership_add(
            project=membership.project,
            identifier=membership.user.get_username(),
            role=membership.role,
            by=request.user,
        )
    changed = [membership for membership, _fields in formset.changed_objects]
    changed.sort(key=lambda membership: membership.role != Role.MANAGER)
    for membership in changed:
        membership_change_role(membership=membership, role=membership.role, by=request.user)
    for membership in formset.deleted_objects:
        membership_remove(membership=membership, by=request.user)


class MembershipFormSet(BaseInlineFormSet):
    """The members of one project, edited together: at least one must stay manager."""

    def clean(self) -> None:
        super().clean()
        roles = [
            form.cleaned_data.get("role")
            for form in self.forms
            if form.cleaned_data and not self._should_delete_form(form)
        ]
        if Role.MANAGER not in roles:
            raise ValidationError(LAST_MANAGER)
        for form in self.extra_forms:
            user = form.cleaned_data.get("user") if form.cleaned_data else None
            if user is not None and not user.is_active:
                form.add_error("user", f"{user.get_username()} is deactivated.")


class MembershipOfUserInline(admin.TabularInline):
    """A user's projects, for reference: members are managed on the project's page."""

    model = Membership
    fk_name = "user"
    extra = 0
    fields = ["project", "role", "created_at"]
    readonly_fields = ["project", "role", "created_at"]
    can_delete = False
    verbose_name = "project membership"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ForgetsCachedTokens:
    """Deactivating a user, changing staff status or a token's expiry changes what a token may
    do, so every process's token cache forgets what it verified once the change commits."""

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        forget_cached_tokens()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        forget_cached_tokens()

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        forget_cached_tokens()


@admin.register(User)
class UserAdmin(ForgetsCachedTokens, DjangoUserAdmin):
    """Users as Django's own admin shows them, plus the projects they belong to."""

    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_active")
    inlines = [MembershipOfUserInline]

    def get_inlines(self, request, obj):
        # The add form is Django's two-step password form; memberships come after.
        return self.inlines if obj is not None else []


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["project", "user", "role"]

    def clean(self):
        cleaned = super().clean()
        user = cleaned.get("user")
        if user is not None and not user.is_active:
            self.add_error("user", f"{user.get_username()} is deactivated.")
        role = cleaned.get("role")
        if role and role != Role.MANAGER and is_last_manager(self.instance):
            self.add_error("role", LAST_MANAGER)
        return cleaned


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Memberships change through accounts' services: audited, never leaving a project
    without a manager."""

    list_display = ("project", "user", "role", "created_at")
    list_filter = ("role", "project")
    list_select_related = ("project", "user")
    search_fields = ("user__username", "user__email", "project__slug", "project__name")
    autocomplete_fields = ("project", "user")
    form = MembershipForm

    def get_readonly_fields(self, request, obj=None):
        return ("project", "user", "created_at") if obj is not None else ()

    def has_delete_permission(self, request, obj=None) -> bool:
        return obj is None or not is_last_manager(obj)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            current = Membership.objects.select_related("project", "user").get(pk=obj.pk)
            membership_change_role(membership=current, role=obj.role, by=request.user)
            return
        created = membership_add(
            project=obj.project, identifier=obj.user.get_username(), role=obj.role, by=request.user
        )
        obj.pk = created.pk
        obj.created_at = created.created_at

    def delete_model(self, request, obj) -> None:
        membership_remove(membership=obj, by=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for membership in queryset.select_related("project", "user"):
            try:
                membership_remove(membership=membership, by=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{membership}: {exc.messages[0]}", messages.ERROR)


@admin.register(ApiToken)
class ApiTokenAdmin(ForgetsCachedTokens, admin.ModelAdmin):
    """Tokens are created on the tokens page or with `mlplatform create_api_token`, where the
    plaintext can be shown once; here they can be renamed, given an expiry, or revoked."""

    list_display = (
        "name",
        "prefix",
        "user",
        "project",
        "scope",
        "state",
        "created_at",
        "expires_at",
        "last_used_at",
    )
    list_filter = ("scope", ("revoked_at", admin.EmptyFieldListFilter), "project")
    list_select_related = ("user", "project")
    search_fields = ("=prefix", "name", "user__username", "project__slug")
    # The digest is deliberately absent: it is never shown, and editing it would mint a token.
    fields = (
        "name",
        "user",
        "project",
        "scope",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = (
        "user",
        "project",
        "scope",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke_selected"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="state")
    def state(self, token: ApiToken) -> str:
        if token.is_revoked:
            return "revoked"
        if token.is_expired:
            return "expired"
        return "active"

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_selected(self, request, queryset) -> None:
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True).select_related("user", "project"):
            token_revoke(token=token, by=request.user)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail is written by services only: nobody edits it, only a superuser prunes it."""

    list_display = ("at", "username", "action", "project", "target_type", "target_repr", "ip")
    list_filter = ("action", "at", "project")
    list_select_related = ("project",)
    search_fields = ("username", "=target_id", "target_repr", "detail", "=ip")
    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser
