"""Reads of identity and tenancy, each already limited to what the actor may see."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from .access import Actor, projects_for, require_role, role_in
from .models import ApiToken, AuditEvent, Membership, Project, Role, TokenScope, User


def token_list_for_user(*, user: User) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first, usable ones and revoked ones alike."""
    return ApiToken.objects.filter(user=user).select_related("project")


def token_list_for_project(*, actor: Actor, project: Project) -> QuerySet[ApiToken]:
    """Every token of the project, for its managers."""
    require_role(actor=actor, project=project, need=Role.MANAGER)
    return ApiToken.objects.filter(project=project).select_related("user")


def token_for_user(*, actor: Actor, token_id: int | str) -> ApiToken:
    """A token the actor may revoke: its user's own, or any of a project the actor manages.

    Through an API token the actor stays inside that token's project: a read token may revoke
    only itself, a write or manage token its user's tokens of the project (a manager's manage
    token, any of it); Http404 for what the actor cannot see, PermissionDenied for what it can
    see but not revoke.
    """
    try:
        pk = int(token_id)
    except (TypeError, ValueError):
        raise Http404("No such token.") from None
    token = ApiToken.objects.select_related("user", "project").filter(pk=pk).first()
    if token is None or not actor.user.is_active:
        raise Http404("No such token.")
    if actor.token is not None:
        if token.pk == actor.token.pk:
            return token
        if token.project_id != actor.token.project_id:
            raise Http404("No such token.")
        if token.user_id == actor.user.pk and actor.token.scope == TokenScope.READ:
            raise PermissionDenied("A read token can revoke only itself.")
    if token.user_id == actor.user.pk:
        return token
    role = role_in(actor=actor, project=token.project)
    if role is None or not role.covers(Role.MANAGER):
        raise Http404("No such token.")
    return token


def token_projects_for(*, user: User) -> QuerySet[Project]:
    """Projects the user may create a token for: those where they have a role."""
    return projects_for(actor=Actor(user=user))


def membership_list(*, actor: Actor, project: Project) -> QuerySet[Membership]:
    """The project's members by username, for anyone who can see the project."""
    require_role(actor=actor, project=project)
    return (
        Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    )


def may_see_email(viewer: User | None, user: User) -> bool:
    """Whether `viewer` may see `user`'s email: their own, or a superuser's looking. A manager
    could otherwise add anyone by username and read their address."""
    return viewer is not None and (viewer.pk == user.pk or viewer.is_superuser)


def membership_for(*, project: Project, membership_id: int | str) -> Membership:
    """One membership of the project, or Http404."""
    try:
        pk = int(membership_id)
    except (TypeError, ValueError):
        raise Http404("No such member.") from None
    membership = (
        Membership.objects.select_related("user", "project").filter(project=project, pk=pk).first()
    )
    if membership is None:
        raise Http404("No such member.")
    return membership


def audit_event_list(*, actor: Actor, project: Project) -> QuerySet[AuditEvent]:
    """The project's audit trail, newest first, for its managers."""
    require_role(actor=actor, project=project, need=Role.MANAGER)
    return AuditEvent.objects.filter(project=project).order_by("-at", "-pk")
