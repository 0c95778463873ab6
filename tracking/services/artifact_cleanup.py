"""Deleting purged artifacts from storage, through Celery, without ever forgetting a file.

The purge records each folder in ArtifactDeletion inside its own transaction; after commit a
task deletes the files and then the row. A task that fails is retried with backoff, and a
periodic pass re-queues any row left behind (a lost message, a broker that was down, retries
exhausted), so files are deleted late at worst, never left for good.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tracking import artifacts
from tracking.errors import NotFound
from tracking.models import ArtifactDeletion

logger = logging.getLogger(__name__)

REQUEUE_BATCH = 100


def artifact_deletion_schedule(*, paths: list[str]) -> None:
    """Record folders to delete; call inside the transaction that purges their rows."""
    if not paths:
        return
    rows = ArtifactDeletion.objects.bulk_create([ArtifactDeletion(path=p) for p in paths])
    ids = [row.pk for row in rows]
    if None in ids:
        # Backends that do not return ids from bulk_create: the periodic pass finds them.
        return
    transaction.on_commit(lambda: _enqueue(ids))


def _enqueue(ids: list[int]) -> None:
    from tracking.tasks import delete_artifacts

    try:
        delete_artifacts.delay(ids)
    except Exception:
        # The rows stay; the periodic pass queues them again once the broker is back.
        logger.exception("Could not queue the deletion of purged artifacts %s", ids)


def artifact_deletion_run(*, deletion_ids: list[int]) -> None:
    """Delete the recorded folders, then their rows; raises the first failure (after trying
    every folder) so the task is retried for what is left."""
    failure: Exception | None = None
    for deletion in ArtifactDeletion.objects.filter(pk__in=deletion_ids).order_by("pk"):
        try:
            artifacts.artifact_delete(path=deletion.path)
        except NotFound:
            pass  # Nothing there, or deleted by an earlier attempt.
        except Exception as exc:
            ArtifactDeletion.objects.filter(pk=deletion.pk).update(
                attempts=deletion.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:500]
            )
            failure = failure or exc
            continue
        deletion.delete()
    if failure is not None:
        raise failure


def artifact_deletion_requeue() -> int:
    """Queue again every deletion older than the grace period; the number queued."""
    grace = timedelta(seconds=settings.MLPLATFORM_ARTIFACT_CLEANUP_SECONDS)
    ids = list(
        ArtifactDeletion.objects.filter(created_at__lte=timezone.now() - grace).values_list(
            "pk", flat=True
        )
    )
    for start in range(0, len(ids), REQUEUE_BATCH):
        _enqueue(ids[start : start + REQUEUE_BATCH])
    return len(ids)
