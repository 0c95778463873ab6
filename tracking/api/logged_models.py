"""The native REST API for MLflow 3's logged models and datasets.

`/api/v1/experiments/<id>/models/` lists (with MLflow's model filter grammar) and creates,
`/api/v1/models/<model_id>/` reads, finalizes, tags and deletes, `/api/v1/experiments/<id>/
datasets/` and `/api/v1/runs/<run_id>/datasets/` read and log datasets,
`/api/v1/datasets/<dataset_id>/` reads and deletes one.
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import Actor, require_role
from accounts.models import Role
from mlplatform.api.base import NativeAPIView
from tracking.errors import NotFound
from tracking.model_search import filter_models, order_models, parse_model_filter
from tracking.models import Dataset, Lifecycle, LoggedModel, LoggedModelStatus, RunInput
from tracking.selectors.datasets import experiment_datasets, run_dataset_inputs
from tracking.selectors.logged_models import logged_model_for_user, with_model_details
from tracking.selectors.lookups import experiment_for_user, run_for_user
from tracking.services import datasets as dataset_services
from tracking.services import logged_models as model_services

from .pagination import next_link, paginate

PAGE_PARAMETERS = [
    OpenApiParameter("cursor", str, description="The `next` link's cursor."),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": 1000},
        description="Rows per page, 1-1000 (default 100).",
    ),
]


def _actor(request: Request) -> Actor:
    return Actor.from_request(request)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- serializers ----------------------------------------------------------------------------


class ModelMetricSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.FloatField(source="display_value")
    step = serializers.IntegerField()
    timestamp = serializers.IntegerField()
    run_id = serializers.CharField(source="run.run_id", allow_null=True, default=None)
    dataset_name = serializers.CharField()
    dataset_digest = serializers.CharField()


class LoggedModelSerializer(serializers.Serializer):
    model_id = serializers.CharField()
    experiment_id = serializers.IntegerField()
    name = serializers.CharField()
    model_type = serializers.CharField()
    status = serializers.ChoiceField(choices=LoggedModelStatus.choices)
    status_message = serializers.CharField()
    source_run_id = serializers.CharField(source="source_run.run_id", allow_null=True, default=None)
    artifact_location = serializers.CharField()
    created_time = serializers.IntegerField(help_text="Milliseconds since the epoch.")
    updated_time = serializers.IntegerField(help_text="Milliseconds since the epoch.")
    params = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    metrics = ModelMetricSerializer(many=True, source="metrics.all")
    load_uri = serializers.SerializerMethodField(help_text="What `mlflow.pyfunc.load_model` takes.")

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_params(self, model: LoggedModel) -> dict[str, str]:
        return {p.key: p.value for p in model.params.all()}

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_tags(self, model: LoggedModel) -> dict[str, str]:
        return {t.key: t.value for t in model.tags.all()}

    def get_load_uri(self, model: LoggedModel) -> str:
        return f"models:/{model.model_id}"


class LoggedModelPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    results = LoggedModelSerializer(many=True)


class LoggedModelCreateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=250)
    model_type = serializers.CharField(required=False, allow_blank=True, default="")
    source_run_id = serializers.CharField(required=False)
    params = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    tags = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)


class LoggedModelUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=LoggedModelStatus.choices, required=False)
    tags = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text="Tags to set (the last write wins); other tags stay.",
    )


class DatasetSerializer(serializers.Serializer):
    dataset_id = serializers.CharField()
    experiment_id = serializers.IntegerField()
    name = serializers.CharField()
    digest = serializers.CharField()
    source_type = serializers.CharField()
    source = serializers.CharField()
    schema = serializers.CharField()
    profile = serializers.CharField()


class DatasetPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    results = DatasetSerializer(many=True)


class RunDatasetSerializer(serializers.Serializer):
    dataset = DatasetSerializer()
    context = serializers.CharField()
    tags = serializers.DictField(child=serializers.CharField())


class RunDatasetCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=500)
    digest = serializers.CharField(max_length=36)
    source_type = serializers.CharField(max_length=36, required=False, allow_blank=True, default="")
    source = serializers.CharField(required=False, allow_blank=True, default="")
    schema = serializers.CharField(required=False, allow_blank=True, default="")
    profile = serializers.CharField(required=False, allow_blank=True, default="")
    context = serializers.CharField(required=False, allow_blank=True, default="")
    tags = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)


# --- views ----------------------------------------------------------------------------------


def _model_data(actor: Actor, model_id: str) -> dict:
    return LoggedModelSerializer(logged_model_for_user(actor=actor, model_id=model_id)).data


class LoggedModelListView(NativeAPIView):
    @extend_schema(
        summary="List and search an experiment's logged models",
        operation_id="logged_models_list",
        parameters=[
            OpenApiParameter(
                "filter",
                str,
                description="MLflow's logged-model grammar, e.g. "
                "`metrics.accuracy > 0.9 and name LIKE 'clf%'`.",
            ),
            *PAGE_PARAMETERS,
        ],
        responses=LoggedModelPageSerializer,
    )
    def get(self, request: Request, experiment_id: int) -> Response:
        experiment = experiment_for_user(actor=_actor(request), experiment_id=experiment_id)
        comparisons = parse_model_filter(request.query_params.get("filter"))
        models = LoggedModel.objects.filter(experiment=experiment, lifecycle=Lifecycle.ACTIVE)
        models = with_model_details(order_models(filter_models(models, comparisons), []))
        rows, cursor = paginate(request, models, keyset=False)
        data = {"next": next_link(request, cursor), "results": rows}
        return Response(LoggedModelPageSerializer(data).data)

    @extend_schema(
        summary="Create a logged model (PENDING until finalized)",
        request=LoggedModelCreateSerializer,
        responses={201: LoggedModelSerializer},
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        actor = _actor(request)
        experiment = experiment_for_user(actor=actor, experiment_id=experiment_id, need=Role.EDITOR)
        data = _valid(LoggedModelCreateSerializer, request.data)
        source_run = None
        if run_id := data.get("source_run_id"):
            source_run = run_for_user(actor=actor, run_id=run_id, need=Role.EDITOR)
        model = model_services.logged_model_create(
            actor=actor,
            experiment=experiment,
            name=data.get("name"),
            source_run=source_run,
            model_type=data["model_type"],
            params=data.get("params"),
            tags=data.get("tags"),
        )
        return Response(_model_data(actor, model.model_id), status=201)


class LoggedModelDetailView(NativeAPIView):
    @extend_schema(
        summary="Retrieve a logged model",
        operation_id="logged_models_retrieve",
        responses=LoggedModelSerializer,
    )
    def get(self, request: Request, model_id: str) -> Response:
        return Response(_model_data(_actor(request), model_id))

    @extend_schema(
        summary="Finalize a logged model (READY or FAILED) or set its tags",
        request=LoggedModelUpdateSerializer,
        responses=LoggedModelSerializer,
    )
    def patch(self, request: Request, model_id: str) -> Response:
        actor = _actor(request)
        model = logged_model_for_user(actor=actor, model_id=model_id, need=Role.EDITOR)
        data = _valid(LoggedModelUpdateSerializer, request.data)
        with transaction.atomic():
            if "status" in data:
                model_services.logged_model_finalize(model=model, status=data["status"])
            if data.get("tags"):
                model_services.logged_model_set_tags(model=model, tags=data["tags"])
        return Response(_model_data(actor, model_id))

    @extend_schema(summary="Delete a logged model", responses={204: None})
    def delete(self, request: Request, model_id: str) -> Response:
        actor = _actor(request)
        model = logged_model_for_user(actor=actor, model_id=model_id, need=Role.EDITOR)
        model_services.logged_model_delete(model=model)
        return Response(status=204)


class ExperimentDatasetListView(NativeAPIView):
    @extend_schema(
        summary="List the datasets an experiment's runs used",
        operation_id="experiment_datasets_list",
        parameters=PAGE_PARAMETERS,
        responses=DatasetPageSerializer,
    )
    def get(self, request: Request, experiment_id: int) -> Response:
        experiment = experiment_for_user(actor=_actor(request), experiment_id=experiment_id)
        rows, cursor = paginate(request, experiment_datasets(experiment=experiment), keyset=False)
        data = {"next": next_link(request, cursor), "results": rows}
        return Response(DatasetPageSerializer(data).data)


def _run_datasets(run) -> list[dict]:
    rows: list[RunInput] = run_dataset_inputs(run_pks=[run.pk])[run.pk]
    return RunDatasetSerializer(
        [{"dataset": r.dataset, "context": r.context, "tags": r.tags} for r in rows], many=True
    ).data


class RunDatasetListView(NativeAPIView):
    @extend_schema(
        summary="The datasets a run used, with their context",
        operation_id="run_datasets_list",
        responses=RunDatasetSerializer(many=True),
    )
    def get(self, request: Request, run_id: str) -> Response:
        return Response(_run_datasets(run_for_user(actor=_actor(request), run_id=run_id)))

    @extend_schema(
        summary="Log a dataset as an input of the run",
        request=RunDatasetCreateSerializer,
        responses={201: RunDatasetSerializer(many=True)},
    )
    def post(self, request: Request, run_id: str) -> Response:
        run = run_for_user(actor=_actor(request), run_id=run_id, need=Role.EDITOR)
        data = _valid(RunDatasetCreateSerializer, request.data)
        tags = dict(data.get("tags") or {})
        if data["context"]:
            tags[dataset_services.CONTEXT_TAG] = data["context"]
        dataset_services.run_log_inputs(
            run=run,
            datasets=[
                dataset_services.DatasetIn(
                    name=data["name"],
                    digest=data["digest"],
                    source_type=data["source_type"],
                    source=data["source"],
                    schema=data["schema"],
                    profile=data["profile"],
                    tags=tags,
                )
            ],
        )
        return Response(_run_datasets(run), status=201)


class DatasetDetailView(NativeAPIView):
    def _dataset(self, request: Request, dataset_id: str, need: Role) -> Dataset:
        dataset = (
            Dataset.objects.select_related("experiment__project")
            .filter(dataset_id=dataset_id)
            .first()
        )
        if dataset is None:
            raise NotFound("No such dataset.")
        require_role(actor=_actor(request), project=dataset.experiment.project, need=need)
        return dataset

    @extend_schema(
        summary="Retrieve a dataset",
        operation_id="datasets_retrieve",
        responses=DatasetSerializer,
    )
    def get(self, request: Request, dataset_id: str) -> Response:
        return Response(DatasetSerializer(self._dataset(request, dataset_id, Role.VIEWER)).data)

    @extend_schema(
        summary="Delete a dataset and its links to runs (managers)", responses={204: None}
    )
    def delete(self, request: Request, dataset_id: str) -> Response:
        dataset = self._dataset(request, dataset_id, Role.MANAGER)
        dataset_services.dataset_delete(dataset=dataset)
        return Response(status=204)
