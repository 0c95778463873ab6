"""`create_project <slug> --owner <username> [--name NAME]`: a project for scripts and set-up."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from tracking.services.projects import ProjectSlugTaken, project_create


def _one_line(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return " ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
    return " ".join(error.messages)


class Command(BaseCommand):
    help = (
        "Create a project managed by an existing user, with its Default experiment. "
        "Prints the project's slug and URL path."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="Lowercase letters, digits and hyphens, as in URLs.")
        parser.add_argument("--owner", required=True, help="Username of the first manager.")
        parser.add_argument("--name", default="", help="Display name (default: the slug).")
        parser.add_argument("--description", default="")

    def handle(self, *args, slug: str, owner: str, name: str, description: str, **options):
        user = User.objects.filter(username=owner).first()
        if user is None:
            raise CommandError(f"No user named '{owner}'.")
        if not user.is_active:
            raise CommandError(f"The user '{owner}' is deactivated.")
        try:
            project = project_create(slug=slug, name=name, owner=user, description=description)
        except ProjectSlugTaken as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError(f"Invalid project: {_one_line(exc)}") from None
        # The pages' stable URL of a project (DESIGN: /p/<project>/).
        self.stdout.write(f"Created project {project.slug}: /p/{project.slug}/")
