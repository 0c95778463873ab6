"""Creating projects: the project, its first manager and its Default experiment, together."""

from django.db import IntegrityError, transaction

from accounts.audit import audit_record
from accounts.models import AuditAction, Membership, Project, Role, User
from tracking.models import DEFAULT_EXPERIMENT_NAME, Experiment


class ProjectSlugTaken(ValueError):
    pass


@transaction.atomic
def project_create(*, slug: str, name: str, owner: User, description: str = "") -> Project:
    """Create a project managed by `owner`, with the Default experiment MLflow's id "0" means.

    Lives in tracking, not accounts, because accounts must not know about experiments.
    """
    project = Project(slug=slug, name=name or slug, description=description)
    project.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            project.save()
    except IntegrityError as exc:
        raise ProjectSlugTaken(f"A project with the slug '{slug}' already exists.") from exc
    Membership.objects.create(project=project, user=owner, role=Role.MANAGER)
    Experiment.objects.create(project=project, name=DEFAULT_EXPERIMENT_NAME)
    audit_record(user=owner, action=AuditAction.PROJECT_CREATED, project=project, target=project)
    return project
