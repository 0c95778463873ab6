"""Celery tasks of the tracking domain: thin wrappers that call one service."""

from celery import shared_task
from django.db import DatabaseError

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
