"""Identity and tenancy: users, projects, memberships with roles, API tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


class User(AbstractUser):
    """A person who logs in; custom from the first migration so it can grow without pain."""

    class Meta:
        db_table = "accounts_user"


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    MANAGER = "manager", "Manager"

    @property
    def rank(self) -> int:
        return ROLE_RANK[self.value]

    def covers(self, need: Role | str) -> bool:
        """Whether this role may do what `need` may do (manager ⊇ editor ⊇ viewer)."""
        return ROLE_RANK[self.value] >= ROLE_RANK[Role(need).value]


ROLE_RANK = {Role.VIEWER.value: 1, Role.EDITOR.value: 2, Role.MANAGER.value: 3}

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and hyphens, starting and ending with a letter or digit.",
)


class ProjectQuerySet(models.QuerySet):
    def visible_to(self, user) -> ProjectQuerySet:
        """Projects the user belongs to; superusers (not mere staff) see every project."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(memberships__user=user)


class Project(models.Model):
    """A team's space: experiments and runs live in exactly one project."""

    slug = models.SlugField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in a project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


class TokenScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write"
    # Deletes in the registry need a manager; as GitLab's Maintainer project tokens.
    MANAGE = "manage", "Manage"


TOKEN_SCOPE_CAP = {
    TokenScope.READ.value: Role.VIEWER,
    TokenScope.WRITE.value: Role.EDITOR,
    TokenScope.MANAGE.value: Role.MANAGER,
}


class ApiTokenQuerySet(models.QuerySet):
    def usable(self) -> ApiTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A credential for scripts and training jobs, limited to one project and a scope.

    Only a lookup prefix and the SHA-256 digest are stored; the plaintext is shown once.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.WRITE)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope__in=TokenScope.values), name="apitoken_scope_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def max_role(self) -> Role:
        """The most a token of this scope may do, whatever its user's role."""
        return TOKEN_SCOPE_CAP.get(self.scope, Role.VIEWER)


class AuditAction(models.TextChoices):
    LOGIN = "login", "Logged in"
    LOGIN_FAILED = "login_failed", "Failed log-in"
    LOGOUT = "logout", "Logged out"
    TOKEN_CREATED = "token_created", "Token created"
    TOKEN_REVOKED = "token_revoked", "Token revoked"
    MEMBER_ADDED = "member_added", "Member added"
    MEMBER_ROLE_CHANGED = "member_role_changed", "Member role changed"
    MEMBER_REMOVED = "member_removed", "Member removed"
    PROJECT_CREATED = "project_created", "Project created"
    EXPERIMENT_DELETED = "experiment_deleted", "Experiment deleted"
    EXPERIMENT_RESTORED = "experiment_restored", "Experiment restored"
    EXPERIMENT_PURGED = "experiment_purged", "Experiment purged"
    RUN_DELETED = "run_deleted", "Run deleted"
    RUN_RESTORED = "run_restored", "Run restored"
    REGISTERED_MODEL_RENAMED = "registered_model_renamed", "Registered model renamed"
    REGISTERED_MODEL_DELETED = "registered_model_deleted", "Registered model deleted"
    MODEL_VERSION_DELETED = "model_version_deleted", "Model version deleted"
    MODEL_ALIAS_SET = "model_alias_set", "Model alias set"
    MODEL_ALIAS_DELETED = "model_alias_deleted", "Model alias deleted"


class AuditEvent(models.Model):
    """Who did what to which object, when and from where."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    # Kept as text too, so the trail still names a user or object that was deleted since.
    username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events"
    )
    target_type = models.CharField(max_length=50, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["project", "-at"], name="auditevent_project_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.get_action_display()}"
