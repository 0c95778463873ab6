"""`rebuild_summaries [--project SLUG] [--run RUN_ID]`: recompute summaries from scratch."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Project
from tracking.models import Run
from tracking.services.summaries import summary_rebuild


class Command(BaseCommand):
    help = (
        "Recompute metric summaries from the stored points, synchronously and from scratch: "
        "every run, the runs of one project, or one run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", metavar="SLUG", help="Only the runs of this project.")
        parser.add_argument("--run", metavar="RUN_ID", help="Only this run (its 32-hex id).")

    def handle(self, *args, project: str | None, run: str | None, **options):
        runs = Run.objects.order_by("pk")
        if project is not None:
            found = Project.objects.filter(slug=project).first()
            if found is None:
                raise CommandError(f"No project with the slug '{project}'.")
            runs = runs.filter(experiment__project=found)
        if run is not None:
            runs = runs.filter(run_id=run)
            if not runs.exists():
                raise CommandError(
                    f"No run with the id '{run}'"
                    + (f" in the project '{project}'." if project is not None else ".")
                )
        run_count = key_count = 0
        # iterator(): the run list itself may be long; each run is rebuilt in its own transaction.
        for one in runs.only("pk", "run_id").iterator(chunk_size=500):
            key_count += summary_rebuild(run=one)
            run_count += 1
        self.stdout.write(f"Rebuilt {key_count} metric summaries of {run_count} runs.")
