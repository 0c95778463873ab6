"""Explicit-field serializers of the native tracking API."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tracking.errors import InvalidInput
from tracking.models import Experiment, RunStatus
from tracking.selectors.series import MAX_POINTS, X_AXES
from tracking.validation import (
    INT64_MAX,
    INT64_MIN,
    MAX_DESCRIPTION_LENGTH,
    MAX_EXPERIMENT_NAME_LENGTH,
    MAX_RUN_NAME_LENGTH,
    NON_FINITE,
    float_or_name,
    parse_float,
)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "number"},
            {"type": "string", "enum": list(NON_FINITE)},
        ],
        "description": "A number; NaN and ±Infinity, which JSON cannot carry, as strings.",
    }
)
class MetricValueField(serializers.Field):
    """A float that may be NaN or infinite, written as "NaN", "Infinity" or "-Infinity"."""

    default_error_messages = {"invalid": "A number, or one of 'NaN', 'Infinity', '-Infinity'."}

    def to_internal_value(self, data):
        if isinstance(data, str) and data not in NON_FINITE:
            self.fail("invalid")  # a number, not a numeric string, as in the schema
        try:
            return parse_float(data, field=self.field_name)
        except InvalidInput:
            self.fail("invalid")

    def to_representation(self, value):
        if value is None:
            return None
        return float_or_name(float(value))


def _nullable_value(**kwargs) -> MetricValueField:
    return MetricValueField(allow_null=True, **kwargs)


class Int64Field(serializers.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", INT64_MIN)
        kwargs.setdefault("max_value", INT64_MAX)
        super().__init__(**kwargs)


# --- experiments ----------------------------------------------------------------------------


class ExperimentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    project = serializers.CharField(source="project.slug")
    name = serializers.CharField()
    description = serializers.CharField()
    lifecycle = serializers.CharField()
    artifact_location = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    tags = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_tags(self, experiment: Experiment) -> dict[str, str]:
        return {tag.key: tag.value for tag in experiment.tags.all()}


class ExperimentCreateSerializer(serializers.Serializer):
    # Untrimmed, so the service refuses exactly what the MLflow API refuses.
    name = serializers.CharField(max_length=MAX_EXPERIMENT_NAME_LENGTH, trim_whitespace=False)
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION_LENGTH, required=False, allow_blank=True, default=""
    )
    tags = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)


class ExperimentUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=MAX_EXPERIMENT_NAME_LENGTH, required=False, trim_whitespace=False
    )
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION_LENGTH, required=False, allow_blank=True
    )
    tags = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text="Tags to set (the last write wins); other tags stay.",
    )


class ExperimentPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    results = ExperimentSerializer(many=True)


# --- runs -----------------------------------------------------------------------------------


class RunSerializer(serializers.Serializer):
    """A run with its params, tags and latest metric values (only the asked-for `columns`)."""

    run_id = serializers.CharField()
    name = serializers.CharField()
    experiment_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    start_time = serializers.IntegerField()
    end_time = serializers.IntegerField(allow_null=True)
    lifecycle = serializers.CharField()
    user = serializers.SerializerMethodField()
    parent_run_id = serializers.SerializerMethodField()
    artifact_uri = serializers.CharField()
    description = serializers.SerializerMethodField()
    params = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_user(self, run) -> str | None:
        return run.user.get_username() if run.user_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_parent_run_id(self, run) -> str | None:
        return run.parent.run_id if run.parent_id else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_description(self, run) -> str:
        return getattr(run, "description", None) or ""

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_params(self, run) -> dict[str, str]:
        return {p.key: p.value for p in run.params.all()}

    @extend_schema_field(serializers.DictField(child=MetricValueField(allow_null=True)))
    def get_metrics(self, run) -> dict:
        field = MetricValueField()
        return {m.key: field.to_representation(m.display_value) for m in run.latest_metrics.all()}

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_tags(self, run) -> dict[str, str]:
        return {t.key: t.value for t in run.tags.all()}


class RunPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page, or null.")
    results = RunSerializer(many=True)


class RunCreateSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=MAX_RUN_NAME_LENGTH, required=False, allow_blank=True, default=""
    )
    start_time = Int64Field(required=False, help_text="Milliseconds since the epoch.")
    tags = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)


class RunUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=MAX_RUN_NAME_LENGTH, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)
    end_time = Int64Field(required=False)
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION_LENGTH, required=False, allow_blank=True
    )


# --- logging --------------------------------------------------------------------------------


class MetricInSerializer(serializers.Serializer):
    key = serializers.CharField(trim_whitespace=False, allow_blank=True)
    value = MetricValueField()
    timestamp = Int64Field(help_text="Milliseconds since the epoch.")
    step = Int64Field(required=False, default=0)


class KeyValueInSerializer(serializers.Serializer):
    key = serializers.CharField(trim_whitespace=False, allow_blank=True)
    value = serializers.CharField(trim_whitespace=False, allow_blank=True)


class LogBatchSerializer(serializers.Serializer):
    metrics = MetricInSerializer(many=True, required=False, default=list)
    params = KeyValueInSerializer(many=True, required=False, default=list)
    tags = KeyValueInSerializer(many=True, required=False, default=list)


# --- metrics --------------------------------------------------------------------------------


class MetricSummarySerializer(serializers.Serializer):
    key = serializers.CharField()
    latest_value = MetricValueField()
    latest_step = serializers.IntegerField()
    latest_timestamp = serializers.IntegerField()
    count = serializers.IntegerField(allow_null=True, help_text="Null until first computed.")
    nan_count = serializers.IntegerField(allow_null=True)
    min = _nullable_value()
    max = _nullable_value()
    mean = _nullable_value()
    first_step = serializers.IntegerField(allow_null=True)
    last_step = serializers.IntegerField(allow_null=True)
    last_timestamp = serializers.IntegerField(allow_null=True)
    computed_at = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField(help_text="Points newer than the summary exist.")


class MetricPointSerializer(serializers.Serializer):
    step = serializers.IntegerField()
    timestamp = serializers.IntegerField()
    value = MetricValueField(source="display_value")


class MetricHistoryPageSerializer(serializers.Serializer):
    key = serializers.CharField()
    next = serializers.URLField(allow_null=True)
    results = MetricPointSerializer(many=True)


class BucketSerializer(serializers.Serializer):
    x = serializers.IntegerField(help_text="Step, timestamp (ms) or ms since the run started.")
    step = serializers.IntegerField()
    timestamp = serializers.IntegerField()
    last = MetricValueField()
    min = MetricValueField()
    max = MetricValueField()
    count = serializers.IntegerField()


class MetricSeriesSerializer(serializers.Serializer):
    key = serializers.CharField()
    x = serializers.ChoiceField(choices=X_AXES)
    buckets = BucketSerializer(many=True)


class RunSeriesSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    buckets = BucketSerializer(many=True)


class MultiSeriesSerializer(serializers.Serializer):
    key = serializers.CharField()
    x = serializers.ChoiceField(choices=X_AXES)
    series = RunSeriesSerializer(many=True)


class SeriesQuerySerializer(serializers.Serializer):
    points = serializers.IntegerField(min_value=1, max_value=MAX_POINTS, required=False)
    x = serializers.ChoiceField(choices=X_AXES, required=False, default="step")
    step_min = Int64Field(required=False)
    step_max = Int64Field(required=False)

    def validate(self, attrs):
        lo, hi = attrs.get("step_min"), attrs.get("step_max")
        if lo is not None and hi is not None and lo > hi:
            raise serializers.ValidationError({"step_max": ["step_max is below step_min."]})
        return attrs


class MultiSeriesQuerySerializer(SeriesQuerySerializer):
    runs = serializers.CharField(help_text="Comma-separated run ids (at most 100).")
    key = serializers.CharField()
    points = serializers.IntegerField(min_value=1, max_value=MAX_POINTS, default=1000)


# --- artifacts ------------------------------------------------------------------------------


class ArtifactSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="Relative to the run's artifact root.")
    is_dir = serializers.BooleanField()
    size = serializers.IntegerField(allow_null=True)


class ArtifactListSerializer(serializers.Serializer):
    path = serializers.CharField(allow_blank=True)
    files = ArtifactSerializer(many=True)
