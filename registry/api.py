"""The native API for the registry (`/api/v1/projects/<slug>/registered-models/...`): the same
selectors and services as MLflow's endpoints and the pages, in the native API's shapes."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import Actor, project_for
from accounts.models import Role
from mlplatform.api.base import NativeAPIView
from registry import selectors
from registry import services as svc
from registry.models import ModelVersion, RegisteredModel
from tracking.validation import MAX_DESCRIPTION_LENGTH, MAX_REGISTERED_MODEL_NAME_LENGTH


class VersionSerializer(serializers.ModelSerializer):
    run_id = serializers.CharField(source="run.run_id", allow_null=True, default=None)
    logged_model_id = serializers.CharField(
        source="logged_model.model_id", allow_null=True, default=None
    )
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    aliases = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "version",
            "source",
            "storage_location",
            "run_id",
            "logged_model_id",
            "status",
            "stage",
            "description",
            "tags",
            "aliases",
            "created_by",
            "created_time",
            "updated_time",
        ]

    def get_aliases(self, obj) -> list[str]:
        return sorted(a.alias for a in obj.aliases.all())

    def get_tags(self, obj) -> dict[str, str]:
        return {t.key: t.value for t in obj.tags.all()}


class RegisteredModelSerializer(serializers.ModelSerializer):
    tags = serializers.SerializerMethodField()
    aliases = serializers.SerializerMethodField()
    versions = VersionSerializer(many=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)

    class Meta:
        model = RegisteredModel
        fields = [
            "name",
            "description",
            "tags",
            "aliases",
            "versions",
            "created_by",
            "created_time",
            "updated_time",
        ]

    def get_tags(self, obj) -> dict[str, str]:
        return {t.key: t.value for t in obj.tags.all()}

    def get_aliases(self, obj) -> dict[str, int]:
        return {a.alias: a.model_version.version for a in obj.aliases.all()}


class ModelCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=MAX_REGISTERED_MODEL_NAME_LENGTH)
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION_LENGTH, required=False, allow_blank=True, default=""
    )
    tags = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)


class ModelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=MAX_REGISTERED_MODEL_NAME_LENGTH, required=False)
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION_LENGTH, required=False, allow_blank=True
    )


class VersionCreateSerializer(serializers.Serializer):
    source = serializers.CharField(
        max_length=1000,
        help_text="`models:/<logged model id>`, `runs:/<run id>/<path>` or another URI.",
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class VersionUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=MAX_DESCRIPTION_LENGTH, allow_blank=True)


class TagValueSerializer(serializers.Serializer):
    # Length and characters are checked by the service, as for MLflow's set-tag.
    value = serializers.CharField(allow_blank=True, trim_whitespace=False)


class AliasSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _model(request: Request, slug: str, name: str, need: Role = Role.VIEWER) -> RegisteredModel:
    actor = Actor.from_request(request)
    project = project_for(actor=actor, slug=slug)
    return selectors.registered_model_for(actor=actor, project=project, name=name, need=need)


def _out(model: RegisteredModel) -> dict:
    fresh = selectors.with_model_details(RegisteredModel.objects.filter(pk=model.pk)).get()
    return RegisteredModelSerializer(fresh).data


class RegisteredModelListView(NativeAPIView):
    @extend_schema(
        summary="List the project's registered models",
        parameters=[OpenApiParameter("search", str, description="Name contains (any case).")],
        responses=RegisteredModelSerializer(many=True),
    )
    def get(self, request: Request, slug: str) -> Response:
        actor = Actor.from_request(request)
        project = project_for(actor=actor, slug=slug)
        search = request.query_params.get("search", "")
        text = f"name ILIKE '%{search.replace(chr(39), chr(39) * 2)}%'" if search else None
        models, _ = selectors.registered_model_search(
            actor=actor, project=project, filter_string=text, max_results=1000
        )
        return Response(RegisteredModelSerializer(models, many=True).data)

    @extend_schema(
        summary="Register a model name",
        request=ModelCreateSerializer,
        responses={201: RegisteredModelSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = Actor.from_request(request)
        project = project_for(actor=actor, slug=slug, need=Role.EDITOR)
        data = _valid(ModelCreateSerializer, request.data)
        model = svc.registered_model_create(
            actor=actor,
            project=project,
            name=data["name"],
            description=data["description"],
            tags=data.get("tags"),
        )
        return Response(_out(model), status=201)


class RegisteredModelDetailView(NativeAPIView):
    @extend_schema(summary="Retrieve a registered model", responses=RegisteredModelSerializer)
    def get(self, request: Request, slug: str, name: str) -> Response:
        return Response(RegisteredModelSerializer(_model(request, slug, name)).data)

    @extend_schema(
        summary="Rename a registered model or change its description",
        request=ModelUpdateSerializer,
        responses=RegisteredModelSerializer,
    )
    def patch(self, request: Request, slug: str, name: str) -> Response:
        model = _model(request, slug, name, Role.EDITOR)
        data = _valid(ModelUpdateSerializer, request.data)
        svc.registered_model_change(
            actor=Actor.from_request(request),
            model=model,
            name=data.get("name"),
            description=data.get("description"),
        )
        return Response(_out(model))

    @extend_schema(summary="Delete a registered model with its versions", responses={204: None})
    def delete(self, request: Request, slug: str, name: str) -> Response:
        model = _model(request, slug, name, Role.MANAGER)
        svc.registered_model_delete(actor=Actor.from_request(request), model=model)
        return Response(status=204)


class VersionListView(NativeAPIView):
    @extend_schema(
        summary="Register a new version",
        request=VersionCreateSerializer,
        responses={201: VersionSerializer},
    )
    def post(self, request: Request, slug: str, name: str) -> Response:
        actor = Actor.from_request(request)
        model = _model(request, slug, name, Role.EDITOR)
        data = _valid(VersionCreateSerializer, request.data)
        resolved = selectors.version_source_resolve(
            actor=actor, project=model.project, source=data["source"]
        )
        version = svc.model_version_create(
            actor=actor,
            model=model,
            description=data["description"],
            **resolved,
        )
        fresh = selectors.with_version_details(ModelVersion.objects.filter(pk=version.pk)).get()
        return Response(VersionSerializer(fresh).data, status=201)


def _version(
    request: Request, slug: str, name: str, version: int, need: Role = Role.VIEWER
) -> ModelVersion:
    actor = Actor.from_request(request)
    project = project_for(actor=actor, slug=slug)
    return selectors.model_version_for(
        actor=actor, project=project, name=name, version=version, need=need
    )


def _version_out(version: ModelVersion) -> dict:
    fresh = selectors.with_version_details(ModelVersion.objects.filter(pk=version.pk)).get()
    return VersionSerializer(fresh).data


class VersionDetailView(NativeAPIView):
    @extend_schema(summary="Retrieve a version", responses=VersionSerializer)
    def get(self, request: Request, slug: str, name: str, version: int) -> Response:
        return Response(VersionSerializer(_version(request, slug, name, version)).data)

    @extend_schema(
        summary="Change a version's description",
        request=VersionUpdateSerializer,
        responses=VersionSerializer,
    )
    def patch(self, request: Request, slug: str, name: str, version: int) -> Response:
        found = _version(request, slug, name, version, Role.EDITOR)
        data = _valid(VersionUpdateSerializer, request.data)
        svc.model_version_update(version=found, description=data["description"])
        return Response(_version_out(found))

    @extend_schema(summary="Delete a version", responses={204: None})
    def delete(self, request: Request, slug: str, name: str, version: int) -> Response:
        found = _version(request, slug, name, version, Role.MANAGER)
        svc.model_version_delete(actor=Actor.from_request(request), version=found)
        return Response(status=204)


class VersionTagView(NativeAPIView):
    @extend_schema(
        summary="Set a tag on a version", request=TagValueSerializer, responses=VersionSerializer
    )
    def put(self, request: Request, slug: str, name: str, version: int, key: str) -> Response:
        found = _version(request, slug, name, version, Role.EDITOR)
        data = _valid(TagValueSerializer, request.data)
        svc.model_version_set_tag(version=found, key=key, value=data["value"])
        return Response(_version_out(found))

    @extend_schema(summary="Remove a tag from a version", responses={204: None})
    def delete(self, request: Request, slug: str, name: str, version: int, key: str) -> Response:
        found = _version(request, slug, name, version, Role.EDITOR)
        svc.model_version_delete_tag(version=found, key=key)
        return Response(status=204)


class AliasView(NativeAPIView):
    @extend_schema(
        summary="Point an alias at a version", request=AliasSerializer, responses=VersionSerializer
    )
    def put(self, request: Request, slug: str, name: str, alias: str) -> Response:
        actor = Actor.from_request(request)
        model = _model(request, slug, name, Role.EDITOR)
        data = _valid(AliasSerializer, request.data)
        version = selectors.model_version_for(
            actor=actor, project=model.project, name=name, version=data["version"], need=Role.EDITOR
        )
        svc.model_alias_set(actor=actor, version=version, alias=alias)
        fresh = selectors.with_version_details(ModelVersion.objects.filter(pk=version.pk)).get()
        return Response(VersionSerializer(fresh).data)

    @extend_schema(summary="Remove an alias", responses={204: None})
    def delete(self, request: Request, slug: str, name: str, alias: str) -> Response:
        model = _model(request, slug, name, Role.EDITOR)
        svc.model_alias_delete(actor=Actor.from_request(request), model=model, alias=alias)
        return Response(status=204)
