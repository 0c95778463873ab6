"""The one-statement paths on PostgreSQL for a token that may write (run_log_metrics,
run_update_by_id): they must write exactly what the general path writes and refuse exactly what
it refuses."""

import math

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from accounts.access import Actor
from accounts.authentication import authenticate_token
from accounts.models import Membership, Role, TokenScope
from tests.factories import ExperimentFactory, RunFactory, make_token
from tracking.errors import InvalidInput
from tracking.mlflow_api.wire import run_info_out
from tracking.models import LatestMetric, Lifecycle, Metric, Run, RunStatus, RunTag
from tracking.services.ingest import MetricColumns, MetricIn, run_log_batch, run_log_metrics
from tracking.services.runs import run_update_by_id

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement path is PostgreSQL's"
)


def token_actor(user, project, scope=TokenScope.WRITE) -> Actor:
    # Through the authentication, which reads the member's role along with the token.
    _token, raw = make_token(user=user, project=project, scope=scope)
    token = authenticate_token(raw)
    return Actor(user=token.user, token=token)


def stored(run: Run) -> tuple[list, list]:
    points = sorted(
        Metric.objects.filter(run=run).values_list("key", "step", "timestamp", "value", "is_nan")
    )
    latest = sorted(
        LatestMetric.objects.filter(run=run).values_list(
            "key", "step", "timestamp", "value", "is_nan", "seq"
        )
    )
    return points, latest


@pytest.fixture
def run(default_experiment):
    return RunFactory(experiment=default_experiment)


@on_postgresql
def test_a_token_writer_logs_points_in_one_statement(
    run, alice, project, django_assert_num_queries
):
    actor = token_actor(alice, project)
    metrics = [MetricIn(f"k{i % 10}", float(i), i, i) for i in range(1000)]
    with django_assert_num_queries(1):
        run_log_metrics(actor=actor, run_id=run.run_id, metrics=metrics)
    points, latest = stored(run)
    assert len(points) == 1000
    assert [row[:2] for row in latest] == [(f"k{k}", 990 + k) for k in range(10)]


def test_keys_and_values_survive_the_trip_exactly(run, alice, project):
    keys = ["a b", "c:d", "e/f", "g.h", "i-j", "ünï", "x" * 250]
    values = [1e300, 5e-324, -0.0, math.inf, -math.inf, math.nan, 0.1 + 0.2]
    metrics = MetricColumns(
        keys=keys, values=values, timestamps=[2**63 - 1] * 7, steps=[-(2**63)] * 7
    )
    run_log_metrics(actor=token_actor(alice, project), run_id=run.run_id, metrics=metrics)
    points = dict(Metric.objects.filter(run=run).values_list("key", "value").order_by("key"))
    nan_keys = set(Metric.objects.filter(run=run, is_nan=True).values_list("key", flat=True))
    assert nan_keys == {"ünï"}
    for key, value in zip(keys, values, strict=True):
        if not math.isnan(value):
            assert points[key] == value


def test_a_retried_batch_writes_nothing_twice_but_moves_seq(run, alice, project):
    actor = token_actor(alice, project)
    metrics = [MetricIn("loss", 0.5, 1, 0), MetricIn("loss", 0.5, 1, 0), MetricIn("acc", 1.0, 1, 3)]
    run_log_metrics(actor=actor, run_id=run.run_id, metrics=metrics)
    run_log_metrics(actor=actor, run_id=run.run_id, metrics=metrics)
    points, latest = stored(run)
    assert len(points) == 2
    assert {row[0]: row[5] for row in latest} == {"loss": 2, "acc": 2}


def test_a_viewer_token_is_refused(run, bob, project):
    with pytest.raises(PermissionDenied):
        run_log_metrics(
            actor=token_actor(bob, project), run_id=run.run_id, metrics=[MetricIn("a", 1, 1, 0)]
        )
    assert not Metric.objects.filter(run=run).exists()


def test_a_read_token_of_an_editor_is_refused(run, bob, project):
    Membership.objects.filter(user=bob, project=project).update(role=Role.EDITOR)
    actor = token_actor(bob, project, scope=TokenScope.READ)
    with pytest.raises(PermissionDenied):
        run_log_metrics(actor=actor, run_id=run.run_id, metrics=[MetricIn("a", 1, 1, 0)])


def test_another_projects_token_finds_no_run(run, charlie, other_project):
    with pytest.raises(Http404):
        run_log_metrics(
            actor=token_actor(charlie, other_project),
            run_id=run.run_id,
            metrics=[MetricIn("a", 1, 1, 0)],
        )
    assert not Metric.objects.filter(run=run).exists()
    run.refresh_from_db()
    assert run.metric_seq == 0


def test_a_deleted_run_is_refused(run, alice, project):
    Run.objects.filter(pk=run.pk).update(lifecycle=Lifecycle.DELETED)
    with pytest.raises(InvalidInput, match="deleted"):
        run_log_metrics(
            actor=token_actor(alice, project), run_id=run.run_id, metrics=[MetricIn("a", 1, 1, 0)]
        )
    assert not Metric.objects.filter(run=run).exists()


def test_a_session_user_goes_the_general_way(run, alice):
    run_log_metrics(actor=Actor(user=alice), run_id=run.run_id, metrics=[MetricIn("a", 1, 1, 0)])
    assert Metric.objects.filter(run=run).count() == 1


def test_invalid_keys_are_refused_before_anything_is_read(run, alice, project):
    with pytest.raises(InvalidInput) as raised:
        run_log_metrics(
            actor=token_actor(alice, project),
            run_id="no-such-run",
            metrics=[MetricIn("ok", 1, 1, 0), MetricIn("../up", 1, 1, 0)],
        )
    assert raised.value.field == "metrics[1].key"


point = st.tuples(
    st.sampled_from(["a", "b", "c d"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(0, 5),
    st.integers(-3, 3),
)


class TestSameRowsAsTheGeneralPath(HypothesisTestCase):
    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.lists(point, max_size=20), min_size=1, max_size=3))
    def test_any_batches_leave_the_same_points_and_latest_metrics(self, batches):
        from accounts.models import User
        from tracking.services.projects import project_create

        user = User.objects.create_user(f"u{User.objects.count()}", password="pw-123456789")
        project = project_create(slug=f"p{user.pk}", name="P", owner=user)
        actor = token_actor(user, project)
        experiment = ExperimentFactory(project=project)
        fast, general = RunFactory(experiment=experiment), RunFactory(experiment=experiment)
        for batch in batches:
            metrics = [MetricIn(k, v, t, s) for k, v, t, s in batch]
            run_log_metrics(actor=actor, run_id=fast.run_id, metrics=metrics)
            run_log_batch(run=Run.objects.get(pk=general.pk), metrics=metrics)
        assert stored(fast) == stored(general)


# --- finishing a run ---------------------------------------------------------------------


@on_postgresql
def test_finishing_a_run_with_a_token_is_one_statement(
    run, alice, project, django_assert_num_queries
):
    actor = token_actor(alice, project)
    with django_assert_num_queries(1):
        finished = run_update_by_id(
            actor=actor, run_id=run.run_id, status=RunStatus.FINISHED, end_time=123
        )
    general = Run.objects.select_related("user").get(pk=run.pk)
    assert run_info_out(finished) == run_info_out(general)
    assert (general.status, general.end_time) == (RunStatus.FINISHED, 123)


def test_finishing_refuses_what_the_general_path_refuses(run, bob, charlie, other_project, project):
    with pytest.raises(PermissionDenied):
        run_update_by_id(actor=token_actor(bob, project), run_id=run.run_id, status="FAILED")
    with pytest.raises(Http404):
        run_update_by_id(
            actor=token_actor(charlie, other_project), run_id=run.run_id, status="FAILED"
        )
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_finishing_a_deleted_run_or_with_a_bad_status_is_refused(run, alice, project):
    actor = token_actor(alice, project)
    with pytest.raises(InvalidInput):
        run_update_by_id(actor=actor, run_id=run.run_id, status="DONE")
    Run.objects.filter(pk=run.pk).update(lifecycle=Lifecycle.DELETED)
    with pytest.raises(InvalidInput, match="deleted"):
        run_update_by_id(actor=actor, run_id=run.run_id, status=RunStatus.FINISHED)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_renaming_goes_the_general_way_and_keeps_the_tag_in_step(run, alice, project):
    renamed = run_update_by_id(
        actor=token_actor(alice, project), run_id=run.run_id, name="best", status="FINISHED"
    )
    assert renamed.name == "best"
    assert RunTag.objects.get(run=run, key="mlflow.runName").value == "best"
