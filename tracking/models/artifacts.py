"""Artifacts waiting to be deleted from storage."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ArtifactDeletion(models.Model):
    """Artifacts in storage to delete because their experiment (or run) was purged.

    Written in the purge's transaction and removed only once the files are gone, so a failed,
    lost or interrupted deletion is retried (tracking.tasks) and never forgotten.
    """

    path = models.CharField(max_length=1000, help_text="A folder of the artifact store.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.path
