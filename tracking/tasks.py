"""Celery tasks of the tracking domain: thin wrappers that call one service."""

from celery import shared_task
from django.db import DatabaseError

from tracking.services.artifact_cleanup import artifact_deletion_requeue, artifact_deletion_run
from tracking.services.summaries import summary_drain, summary_reconcile


@shared_task(
    acks_late=True,
    # A worker killed mid-task puts the message back instead of dropping it.
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=10,
)
def summarize_dirty_runs() -> None:
    summary_drain()


@shared_task(acks_late=True, ignore_result=True)
def reconcile_summaries() -> None:
    summary_reconcile()


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    # Storage errors (a file system or an object store briefly unavailable) and database ones.
    autoretry_for=(OSError, DatabaseError),
    retry_backoff=2,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=10,
)
def delete_artifacts(deletion_ids: list[int]) -> None:
    artifact_deletion_run(deletion_ids=deletion_ids)


@shared_task(acks_late=True, ignore_result=True)
def requeue_artifact_deletions() -> None:
    artifact_deletion_requeue()
