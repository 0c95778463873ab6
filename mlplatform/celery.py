"""The Celery app: `celery -A mlplatform worker` and `celery -A mlplatform beat` load this."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlplatform.settings")

app = Celery("mlplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
