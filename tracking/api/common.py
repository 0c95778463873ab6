"""What the native tracking API's views share: the actor, input validation, renderers.

Views only translate: they validate input, call one service or selector, and serialize.
"""

from __future__ import annotations

import json

from django.db.models import prefetch_related_objects
from django.http import Http404
from drf_spectacular.utils import (
    OpenApiParameter,
)
from rest_framework import renderers
from rest_framework.request import Request

from accounts.access import Actor, project_for
from tracking.models import Experiment
from tracking.selectors.lookups import experiment_for_user


class CSVRenderer(renderers.BaseRenderer):
    """Lets `Accept: text/csv` through content negotiation; errors still render as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class OctetRenderer(CSVRenderer):
    media_type = "application/octet-stream"
    format = "bin"
    charset = None


def request_actor(request: Request) -> Actor:
    return Actor.from_request(request)


def valid(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def project_experiment(request: Request, slug: str, experiment_id: int) -> Experiment:
    actor = request_actor(request)
    project = project_for(actor=actor, slug=slug)
    experiment = experiment_for_user(actor=actor, experiment_id=experiment_id)
    if experiment.project_id != project.pk:
        raise Http404("No such experiment in this project.")
    return experiment


def with_tags(experiment: Experiment) -> Experiment:
    prefetch_related_objects([experiment], "tags")
    return experiment


PAGE_PARAMETERS = [
    OpenApiParameter("cursor", str, description="The `next` link's cursor."),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": 1000},
        description="Rows per page, 1-1000 (default 100).",
    ),
]
