"""The native API for experiments: list, create, read, change, delete and restore."""

from __future__ import annotations

from django.db import transaction
from django.db.models import prefetch_related_objects
from drf_spectacular.utils import (
    extend_schema,
)
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import project_for
from mlplatform.api.base import NativeAPIView
from tracking.filters import ExperimentFilter
from tracking.models import Experiment
from tracking.services import experiments as experiment_services

from . import serializers as s
from .common import (
    PAGE_PARAMETERS,
    project_experiment,
    request_actor,
    valid,
    with_tags,
)
from .pagination import next_link, paginate


class ExperimentListView(NativeAPIView, GenericAPIView):
    queryset = Experiment.objects.all()
    filterset_class = ExperimentFilter
    serializer_class = s.ExperimentCreateSerializer

    @extend_schema(
        summary="List the project's experiments",
        operation_id="experiments_list",
        parameters=PAGE_PARAMETERS,
        filters=True,
        responses=s.ExperimentPageSerializer,
    )
    def get(self, request: Request, slug: str) -> Response:
        project = project_for(actor=request_actor(request), slug=slug)
        qs = (
            Experiment.objects.filter(project=project)
            .select_related("project")
            .order_by("name", "pk")
        )
        filterset = ExperimentFilter(request.query_params, queryset=qs, request=request)
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        rows, cursor = paginate(request, filterset.qs, keyset=False)
        prefetch_related_objects(rows, "tags")
        data = {"next": next_link(request, cursor), "results": rows}
        return Response(s.ExperimentPageSerializer(data).data)

    @extend_schema(
        summary="Create an experiment",
        request=s.ExperimentCreateSerializer,
        responses={201: s.ExperimentSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = request_actor(request)
        project = project_for(actor=actor, slug=slug)
        data = valid(s.ExperimentCreateSerializer, request.data)
        experiment = experiment_services.experiment_create(
            actor=actor,
            project=project,
            name=data["name"],
            description=data["description"],
            tags=data.get("tags"),
        )
        return Response(s.ExperimentSerializer(with_tags(experiment)).data, status=201)


class ExperimentDetailView(NativeAPIView):
    @extend_schema(
        summary="Retrieve an experiment",
        operation_id="experiments_retrieve",
        responses=s.ExperimentSerializer,
    )
    def get(self, request: Request, slug: str, experiment_id: int) -> Response:
        experiment = project_experiment(request, slug, experiment_id)
        return Response(s.ExperimentSerializer(with_tags(experiment)).data)

    @extend_schema(
        summary="Rename an experiment, change its description or set tags",
        request=s.ExperimentUpdateSerializer,
        responses=s.ExperimentSerializer,
    )
    def patch(self, request: Request, slug: str, experiment_id: int) -> Response:
        actor = request_actor(request)
        experiment = project_experiment(request, slug, experiment_id)
        data = valid(s.ExperimentUpdateSerializer, request.data)
        with transaction.atomic():
            experiment = experiment_services.experiment_update(
                actor=actor,
                experiment=experiment,
                name=data.get("name"),
                description=data.get("description"),
            )
            for key, value in sorted(data.get("tags", {}).items()):
                experiment_services.experiment_set_tag(
                    actor=actor, experiment=experiment, key=key, value=value
                )
        return Response(s.ExperimentSerializer(with_tags(experiment)).data)

    @extend_schema(summary="Delete an experiment (restorable) with its runs", responses={204: None})
    def delete(self, request: Request, slug: str, experiment_id: int) -> Response:
        experiment = project_experiment(request, slug, experiment_id)
        experiment_services.experiment_delete(actor=request_actor(request), experiment=experiment)
        return Response(status=204)


class ExperimentRestoreView(NativeAPIView):
    @extend_schema(
        summary="Restore a deleted experiment with its runs",
        request=None,
        responses=s.ExperimentSerializer,
    )
    def post(self, request: Request, slug: str, experiment_id: int) -> Response:
        experiment = project_experiment(request, slug, experiment_id)
        experiment_services.experiment_restore(actor=request_actor(request), experiment=experiment)
        return Response(s.ExperimentSerializer(with_tags(experiment)).data)
