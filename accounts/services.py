"""Writes of identity and tenancy: API tokens and project memberships, each audited.

Services raise ValidationError with a message fit for a form or a command line; callers decide
beforehand, through accounts.access, whether the actor may act at all.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import tokens
from .access import Actor, role_in
from .audit import audit_record
from .models import ApiToken, AuditAction, Membership, Project, Role, TokenScope, User
from .token_cache import forget_cached_tokens

TOKEN_NAME_MAX_LENGTH = ApiToken._meta.get_field("name").max_length


@transaction.atomic
def token_create(
    *,
    user: User,
    project: Project,
    name: str,
    scope: str = TokenScope.WRITE,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token acting for `user` in `project`; the plaintext is returned, never stored."""
    name = name.strip()
    if not name:
        raise ValidationError("Give the token a name.")
    if len(name) > TOKEN_NAME_MAX_LENGTH:
        raise ValidationError(f"The name is longer than {TOKEN_NAME_MAX_LENGTH} characters.")
    if scope not in TokenScope.values:
        raise ValidationError(f"The scope must be one of: {', '.join(TokenScope.values)}.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError("The expiry date is in the past.")
    role = role_in(actor=Actor(user=user), project=project)
    if role is None:
        raise ValidationError(
            f"{user.get_username()} is not a member of the project {project.slug}."
        )
    if scope == TokenScope.WRITE and not role.covers(Role.EDITOR):
        # The token could never write anyway; saying so now beats a 403 in a training job.
        raise ValidationError("A write token needs the editor or manager role in the project.")
    if scope == TokenScope.MANAGE and not role.covers(Role.MANAGER):
        raise ValidationError("A manage token needs the manager role in the project.")
    for _attempt in range(3):
        raw = tokens.generate()
        try:
            # A savepoint, so a (vanishingly rare) prefix collision can be retried.
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user,
                    project=project,
                    name=name,
                    scope=scope,
                    prefix=tokens.lookup_prefix(raw),
                    digest=tokens.digest(raw),
                    expires_at=expires_at,
                )
        except IntegrityError:
            continue
        break
    else:
        raise RuntimeError("Could not find a free token prefix in three attempts.")
    audit_record(
        user=user,
        action=AuditAction.TOKEN_CREATED,
        project=project,
        target=token,
        detail=f"scope {scope}" + (f", expires {expires_at:%Y-%m-%d %H:%M}" if expires_at else ""),
    )
    return token, raw


@transaction.atomic
def token_revoke(*, token: ApiToken, by: User) -> ApiToken:
    """Revoke the token now; revoking a revoked token changes nothing."""
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db(fields=["revoked_at"])
    if updated:
        forget_cached_tokens()
        detail = "" if by.pk == token.user_id else f"token of {token.user.get_username()}"
        audit_record(
            user=by,
            action=AuditAction.TOKEN_REVOKED,
            project=token.project,
            target=token,
            detail=detail,
        )
    return token


def _user_by_username_or_email(identifier: str) -> User:
    identifier = identifier.strip()
    if not identifier:
        raise ValidationError("Enter a username or an email address.")
    matches = list(
        User.objects.filter(Q(username=identifier) | Q(email__iexact=identifier)).filter(
            is_active=True
        )[:2]
    )
    exact = [u for u in matches if u.username == identifier]
    if exact:
        return exact[0]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValidationError(f"Several users have the email {identifier}; use the username.")
    raise ValidationError(f"No active user has the username or email {identifier}.")


def _check_role(role: str) -> Role:
    if role not in Role.values:
        raise ValidationError(f"The role must be one of: {', '.join(Role.values)}.")
    return Role(role)


def _lock_managers(project: Project) -> list[Membership]:
    """The project's manager memberships, locked so two demotions cannot both pass the check."""
    return list(Membership.objects.select_for_update().filter(project=project, role=Role.MANAGER))


def _refresh_or_gone(membership: Membership) -> None:
    """Re-read the role under lock; someone else may have changed or removed it meanwhile."""
    current = Membership.objects.select_for_update().filter(pk=membership.pk).first()
    if current is None:
        raise ValidationError(f"{membership.user.get_username()} is no longer a member.")
    membership.role = current.role


@transaction.atomic
def membership_add(*, project: Project, identifier: str, role: str, by: User) -> Membership:
    """Add an existing user, found by username or email, to the project with a role."""
    role = _check_role(role)
    user = _user_by_username_or_email(identifier)
    try:
        with transaction.atomic():
            membership = Membership.objects.create(project=project, user=user, role=role)
    except IntegrityError:
        raise ValidationError(
            f"{user.get_username()} is already a member of {project.name}."
        ) from None
    audit_record(
        user=by,
        action=AuditAction.MEMBER_ADDED,
        project=project,
        target=user,
        detail=f"as {role.value}",
    )
    return membership


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, by: User) -> Membership:
    """Give a member another role; the project's last manager cannot be demoted."""
    role = _check_role(role)
    managers = _lock_managers(membership.project)
    _refresh_or_gone(membership)
    old = Role(membership.role)
    if old == role:
        return membership
    if old == Role.MANAGER and len(managers) <= 1:
        raise ValidationError(
            "A project needs at least one manager: make someone else manager first."
        )
    membership.role = role
    membership.save(update_fields=["role"])
    forget_cached_tokens()
    audit_record(
        user=by,
        action=AuditAction.MEMBER_ROLE_CHANGED,
        project=membership.project,
        target=membership.user,
        detail=f"{old.value} → {role.value}",
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, by: User) -> None:
    """Remove a member and revoke their tokens for the project; never the last manager."""
    project = membership.project
    managers = _lock_managers(project)
    _refresh_or_gone(membership)
    if membership.role == Role.MANAGER and len(managers) <= 1:
        raise ValidationError(
            "A project needs at least one manager: make someone else manager first."
        )
    user = membership.user
    membership.delete()
    forget_cached_tokens()
    # Access through the tokens already ends with the membership (accounts.access); revoking
    # them as well means adding the user back later does not silently revive old credentials.
    revoked = ApiToken.objects.filter(user=user, project=project, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    audit_record(
        user=by,
        action=AuditAction.MEMBER_REMOVED,
        project=project,
        target=user,
        detail=f"{revoked} token(s) revoked" if revoked else "",
    )


@transaction.atomic
def user_signup(*, username: str, email: str, password: str) -> User:
    """Create an ordinary user who signed themselves up (only when sign-up is enabled)."""
    return User.objects.create_user(username=username, email=email, password=password)


@transaction.atomic
def project_update(
    *, project: Project, name: str | None = None, description: str | None = None
) -> Project:
    """Change a project's name or description; the slug, which URLs and tokens use, stays."""
    fields = []
    if name is not None:
        project.name = name.strip()
        fields.append("name")
    if description is not None:
        project.description = description
        fields.append("description")
    if fields:
        project.full_clean(exclude=["slug"], validate_unique=False)
        project.save(update_fields=fields)
    return project
