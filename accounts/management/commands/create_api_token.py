"""`create_api_token alice --project alpha`: a token for scripts, printed alone on the last line."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Project, TokenScope, User
from accounts.services import token_create


class Command(BaseCommand):
    help = (
        "Create an API token for a user in a project. The token is printed once, alone on the "
        "last line, so `| tail -n1` captures it."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--project", required=True, help="Slug of the project.")
        parser.add_argument("--scope", default=TokenScope.WRITE.value, help="read, write or manage")
        parser.add_argument("--name", default="", help="Defaults to 'created by command'.")
        parser.add_argument("--expires-days", type=int, default=None, help="Days until expiry.")

    def handle(self, *args, username, project, scope, name, expires_days, **options):
        if scope not in TokenScope.values:
            raise CommandError(
                f"Unknown scope {scope!r}: use one of {', '.join(TokenScope.values)}."
            )
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be 1 or more.")
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"The user {username!r} is deactivated.")
        project_obj = Project.objects.filter(slug=project).first()
        if project_obj is None:
            raise CommandError(f"No project with the slug {project!r}.")
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        try:
            token, raw = token_create(
                user=user,
                project=project_obj,
                name=name or "created by command",
                scope=scope,
                expires_at=expires_at,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "no expiry"
        self.stderr.write(
            f"Created token {token.name!r} ({token.scope}, {expiry}) for {username} in "
            f"{project_obj.slug}. It is shown only now:"
        )
        self.stdout.write(raw)
