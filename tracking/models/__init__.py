"""The tracking domain's models, a module per group; every model is importable from here."""

from tracking.models.artifacts import ArtifactDeletion
from tracking.models.common import (
    DEFAULT_EXPERIMENT_NAME,
    INDEXED_VALUE_LENGTH,
    STOPPED_STATUSES,
    Lifecycle,
    RunStatus,
    new_run_id,
    now_ms,
)
from tracking.models.logged_models import (
    Dataset,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelParam,
    LoggedModelStatus,
    LoggedModelTag,
    RunInput,
    RunModelLink,
    new_dataset_id,
    new_model_id,
)
from tracking.models.metrics import LatestMetric, Metric, MetricRollup, MetricSummary
from tracking.models.runs import Experiment, ExperimentTag, Param, Run, RunTag

__all__ = [
    "DEFAULT_EXPERIMENT_NAME",
    "INDEXED_VALUE_LENGTH",
    "STOPPED_STATUSES",
    "ArtifactDeletion",
    "Dataset",
    "Experiment",
    "ExperimentTag",
    "LatestMetric",
    "Lifecycle",
    "LoggedModel",
    "LoggedModelMetric",
    "LoggedModelParam",
    "LoggedModelStatus",
    "LoggedModelTag",
    "Metric",
    "MetricRollup",
    "MetricSummary",
    "Param",
    "Run",
    "RunInput",
    "RunModelLink",
    "RunStatus",
    "RunTag",
    "new_dataset_id",
    "new_model_id",
    "new_run_id",
    "now_ms",
]
