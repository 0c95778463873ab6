"""The one access rule: what a user, or a token acting for one, may do in a project.

Every API view, MLflow endpoint and page asks here (directly or through tracking's selectors).
Someone who cannot see a project gets 404 for everything in it, so they learn nothing about it;
someone who can see but not do gets 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from .models import ApiToken, Membership, Project, Role, User


@dataclass(frozen=True)
class Actor:
    """Who is asking: a user, possibly through a token that caps them to a project and scope."""

    user: User
    token: ApiToken | None = None

    @classmethod
    def from_request(cls, request) -> Actor:
        token = getattr(request, "auth", None)
        return cls(user=request.user, token=token if isinstance(token, ApiToken) else None)


_UNKNOWN = object()


def _token_member_role(actor: Actor):
    """The role ApiTokenAuthentication read along with the token (in the token's project)."""
    if actor.token is None:
        return _UNKNOWN
    return getattr(actor.token, "member_role", _UNKNOWN)


def role_in(*, actor: Actor, project: Project) -> Role | None:
    """The actor's effective role in the project, or None when they cannot see it."""
    return _role_in(actor=actor, project_id=project.pk)


def token_project_allowing(actor: Actor, need: Role) -> int | None:
    """The id of the token's project when the actor may do `need` there, known without a
    query (the role came with the token); None for a browser session, for a role that falls
    short, or when it would take a query. Callers then ask require_role, which says why.

    Hot write paths use it to check access in the same statement that writes.
    """
    if actor.token is None or _token_member_role(actor) is _UNKNOWN:
        return None
    role = _role_in(actor=actor, project_id=actor.token.project_id)
    if role is None or not role.covers(need):
        return None
    return actor.token.project_id


def _role_in(*, actor: Actor, project_id: int) -> Role | None:
    user = actor.user
    if not user.is_authenticated or not user.is_active:
        return None
    if actor.token is not None and actor.token.project_id != project_id:
        return None
    member_role = None
    if not user.is_superuser:
        member_role = _token_member_role(actor)
        if member_role is _UNKNOWN:
            membership = (
                Membership.objects.filter(project_id=project_id, user=user).only("role").first()
            )
            member_role = membership.role if membership is not None else None
    return effective_role(actor=actor, member_role=member_role)


def effective_role(*, actor: Actor, member_role: str | None) -> Role | None:
    """The actor's role in a project where their membership has `member_role` (None: not a
    member), for callers that read memberships in bulk; role_in reads it for one project."""
    if actor.user.is_superuser:
        # Only superusers: a staff flag opens the admin its permissions allow, no project.
        role = Role.MANAGER
    elif member_role is None:
        return None
    else:
        role = Role(member_role)
    if actor.token is not None and not actor.token.max_role.covers(role):
        role = actor.token.max_role
    return role


def require_role(*, actor: Actor, project: Project, need: Role = Role.VIEWER) -> Role:
    """Http404 when the actor cannot see the project; PermissionDenied when it cannot do `need`."""
    role = role_in(actor=actor, project=project)
    if role is None:
        raise Http404("No such project.")
    if not role.covers(need):
        raise PermissionDenied(f"This needs the {Role(need).label.lower()} role in the project.")
    return role


def projects_for(*, actor: Actor) -> QuerySet[Project]:
    """Projects the actor can see: a token sees only its own project."""
    if token_project_allowing(actor, Role.VIEWER) is not None:
        # The role came with the token: no membership subquery to build and run.
        return Project.objects.filter(pk=actor.token.project_id)
    projects = Project.objects.visible_to(actor.user)
    if actor.token is not None:
        projects = projects.filter(pk=actor.token.project_id)
    return projects.distinct()


def project_for(*, actor: Actor, slug: str, need: Role = Role.VIEWER) -> Project:
    """The project with this slug, or Http404/PermissionDenied as require_role decides."""
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise Http404("No such project.")
    require_role(actor=actor, project=project, need=need)
    return project


def can_create_project(user: User) -> bool:
    """Whether the user may create a project; a setting can keep creation to staff."""
    if not user.is_authenticated or not user.is_active:
        return False
    if settings.MLPLATFORM_PROJECT_CREATION_STAFF_ONLY:
        return user.is_staff
    return True
