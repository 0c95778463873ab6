"""The one-statement paths on PostgreSQL for a token that may write (run_log_batch_by_id,
run_create_by_id, run_update_by_id): they must write exactly what the general path writes and
refuse exactly what it refuses."""

import math
import threading

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from accounts.access import Actor
from accounts.authentication import authenticate_token
from accounts.models import Membership, Role, TokenScope
from tests.factories import ExperimentFactory, RunFactory, make_token
from tracking.batch import MetricColumns, MetricIn, ParamIn, TagIn
from tracking.errors import InvalidInput
from tracking.mlflow_api.wire import run_info_out
from tracking.models import LatestMetric, Lifecycle, Metric, Param, Run, RunStatus, RunTag
from tracking.services.ingest import run_log_batch, run_log_batch_by_id
from tracking.services.runs import run_create, run_create_by_id, run_update_by_id

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


def stored_all(run: Run) -> tuple:
    """Points, latest metrics, params, tags and the run's own name and seq."""
    run = Run.objects.get(pk=run.pk)
    return (
        *stored(run),
        sorted(Param.objects.filter(run=run).values_list("key", "value")),
        sorted(RunTag.objects.filter(run=run).values_list("key", "value")),
        run.name,
        run.metric_seq,
    )


def statements(queries) -> list[str]:
    """The captured SQL without the savepoints a test's transaction adds around a write that
    may be refused."""
    return [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]


@pytest.fixture
def run(default_experiment):
    return RunFactory(experiment=default_experiment)


@on_postgresql
def test_a_token_writer_logs_points_in_one_statement(run, alice, project):
    actor = token_actor(alice, project)
    metrics = [MetricIn(f"k{i % 10}", float(i), i, i) for i in range(1000)]
    with CaptureQueriesContext(connection) as queries:
        run_log_batch_by_id(actor=actor, run_id=run.run_id, metrics=metrics)
    assert len(statements(queries.captured_queries)) == 1
    points, latest = stored(run)
    assert len(points) == 1000
    assert [row[:2] for row in latest] == [(f"k{k}", 990 + k) for k in range(10)]


def test_keys_and_values_survive_the_trip_exactly(run, alice, project):
    keys = ["a b", "c:d", "e/f", "g.h", "i-j", "ünï", "x" * 250]
    values = [1e300, 5e-324, -0.0, math.inf, -math.inf, math.nan, 0.1 + 0.2]
    metrics = MetricColumns(
        keys=keys, values=values, timestamps=[2**63 - 1] * 7, steps=[-(2**63)] * 7
    )
    run_log_batch_by_id(actor=token_actor(alice, project), run_id=run.run_id, metrics=metrics)
    points = dict(Metric.objects.filter(run=run).values_list("key", "value").order_by("key"))
    nan_keys = set(Metric.objects.filter(run=run, is_nan=True).values_list("key", flat=True))
    assert nan_keys == {"ünï"}
    for key, value in zip(keys, values, strict=True):
        if not math.isnan(value):
            assert points[key] == value


def test_a_retried_batch_writes_nothing_twice_but_moves_seq(run, alice, project):
    actor = token_actor(alice, project)
    metrics = [MetricIn("loss", 0.5, 1, 0), MetricIn("loss", 0.5, 1, 0), MetricIn("acc", 1.0, 1, 3)]
    run_log_batch_by_id(actor=actor, run_id=run.run_id, metrics=metrics)
    run_log_batch_by_id(actor=actor, run_id=run.run_id, metrics=metrics)
    points, latest = stored(run)
    assert len(points) == 2
    assert {row[0]: row[5] for row in latest} == {"loss": 2, "acc": 2}


@on_postgresql
def test_only_a_batch_with_a_stored_point_is_written_twice(run, alice, project):
    # The first statement inserts without ON CONFLICT; only a batch that meets a stored point
    # is refused by the constraint and written again, skipping that point.
    actor = token_actor(alice, project)
    first = [MetricIn("loss", 0.5, 1, 0), MetricIn("acc", 0.1, 1, 0)]
    with CaptureQueriesContext(connection) as queries:
        run_log_batch_by_id(actor=actor, run_id=run.run_id, metrics=first)
    assert len(statements(queries.captured_queries)) == 1
    overlapping = [MetricIn("loss", 0.5, 1, 0), MetricIn("loss", 0.4, 2, 1)]
    with CaptureQueriesContext(connection) as queries:
        run_log_batch_by_id(actor=actor, run_id=run.run_id, metrics=overlapping)
    assert len(statements(queries.captured_queries)) == 2
    points, latest = stored(run)
    assert points == [
        ("acc", 0, 1, 0.1, False),
        ("loss", 0, 1, 0.5, False),
        ("loss", 1, 2, 0.4, False),
    ]
    assert {row[0]: (row[1], row[5]) for row in latest} == {"acc": (0, 1), "loss": (1, 2)}


@pytest.mark.django_db(transaction=True)
def test_a_retried_batch_outside_a_transaction_is_written_once(alice, project):
    # What a request does: the refused first statement needs no savepoint to be undone.
    run = RunFactory(experiment=ExperimentFactory(project=project))
    actor = token_actor(alice, project)
    metrics = [MetricIn(f"k{i % 10}", float(i), 1, i) for i in range(100)]
    run_log_batch_by_id(actor=actor, run_id=run.run_id, metrics=metrics)
    before = stored(run)
    run_log_batch_by_id(actor=actor, run_id=run.run_id, metrics=metrics)
    points, latest = stored(run)
    assert points == before[0]
    assert [row[:5] for row in latest] == [row[:5] for row in before[1]]
    assert {row[5] for row in latest} == {2}


def test_a_viewer_token_is_refused(run, bob, project):
    with pytest.raises(PermissionDenied):
        run_log_batch_by_id(
            actor=token_actor(bob, project), run_id=run.run_id, metrics=[MetricIn("a", 1, 1, 0)]
        )
    assert not Metric.objects.filter(run=run).exists()


def test_a_read_token_of_an_editor_is_refused(run, bob, project):
    Membership.objects.filter(user=bob, project=project).update(role=Role.EDITOR)
    actor = token_actor(bob, project, scope=TokenScope.READ)
    with pytest.raises(PermissionDenied):
        run_log_batch_by_id(actor=actor, run_id=run.run_id, metrics=[MetricIn("a", 1, 1, 0)])


def test_another_projects_token_finds_no_run(run, charlie, other_project):
    with pytest.raises(Http404):
        run_log_batch_by_id(
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
        run_log_batch_by_id(
            actor=token_actor(alice, project), run_id=run.run_id, metrics=[MetricIn("a", 1, 1, 0)]
        )
    assert not Metric.objects.filter(run=run).exists()


def test_a_session_user_goes_the_general_way(run, alice):
    run_log_batch_by_id(
        actor=Actor(user=alice), run_id=run.run_id, metrics=[MetricIn("a", 1, 1, 0)]
    )
    assert Metric.objects.filter(run=run).count() == 1


def test_invalid_keys_are_refused_before_anything_is_read(run, alice, project):
    with pytest.raises(InvalidInput) as raised:
        run_log_batch_by_id(
            actor=token_actor(alice, project),
            run_id="no-such-run",
            metrics=[
                MetricIn("ok", 1, 1, 0),
                MetricIn("../up", 1, 1, 0),
                MetricIn("ok", 1, 1, 1),
                MetricIn("../up", 1, 1, 1),
            ],
        )
    # Keys are checked once each; the error names the first point with the bad one.
    assert raised.value.field == "metrics[1].key"


point = st.tuples(
    st.sampled_from(["a", "b", "c d"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(0, 5),
    st.integers(-3, 3),
)


def two_runs_of_a_new_writer() -> tuple[Actor, Run, Run]:
    """A token writer of a project of its own and two fresh runs: one for each path."""
    from accounts.models import User
    from tracking.services.projects import project_create

    user = User.objects.create_user(f"u{User.objects.count()}", password="pw-123456789")
    project = project_create(slug=f"p{user.pk}", name="P", owner=user)
    experiment = ExperimentFactory(project=project)
    return (
        token_actor(user, project),
        RunFactory(experiment=experiment),
        RunFactory(experiment=experiment),
    )


class TestSameRowsAsTheGeneralPath(HypothesisTestCase):
    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.lists(point, max_size=20), min_size=1, max_size=3))
    def test_any_batches_leave_the_same_points_and_latest_metrics(self, batches):
        actor, fast, general = two_runs_of_a_new_writer()
        for batch in batches:
            metrics = [MetricIn(k, v, t, s) for k, v, t, s in batch]
            run_log_batch_by_id(actor=actor, run_id=fast.run_id, metrics=metrics)
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


# --- a batch with params and tags --------------------------------------------------------

SWEEP_PARAMS = [ParamIn(f"p{i}", str(i)) for i in range(10)]
SWEEP_POINTS = [MetricIn(f"m{i}", i / 3, 1, 0) for i in range(10)]


@on_postgresql
def test_a_batch_with_params_and_tags_is_one_statement(run, alice, project):
    actor = token_actor(alice, project)
    with CaptureQueriesContext(connection) as queries:
        run_log_batch_by_id(
            actor=actor,
            run_id=run.run_id,
            metrics=SWEEP_POINTS,
            params=SWEEP_PARAMS,
            tags=[TagIn("team", "rl"), TagIn("mlflow.runName", "trial-7")],
        )
    assert len(statements(queries.captured_queries)) == 1
    points, latest, params, tags, name, seq = stored_all(run)
    assert (len(points), len(latest), seq) == (10, 10, 1)
    assert params == [(p.key, p.value) for p in SWEEP_PARAMS]
    assert tags == [("mlflow.runName", "trial-7"), ("team", "rl")]
    assert name == "trial-7"


def test_a_changed_param_is_refused_and_nothing_of_the_batch_is_written(run, alice, project):
    actor = token_actor(alice, project)
    run_log_batch_by_id(actor=actor, run_id=run.run_id, params=[ParamIn("lr", "0.1")])
    before = stored_all(run)
    with pytest.raises(InvalidInput, match="Changing param values is not allowed"):
        run_log_batch_by_id(
            actor=actor,
            run_id=run.run_id,
            metrics=SWEEP_POINTS,
            params=[ParamIn("batch", "32"), ParamIn("lr", "0.2")],
            tags=[TagIn("team", "rl")],
        )
    assert stored_all(run) == before
    # The same value again is a retry, not a change.
    run_log_batch_by_id(actor=actor, run_id=run.run_id, params=[ParamIn("lr", "0.1")])
    assert stored_all(run) == before


@pytest.mark.django_db(transaction=True)
def test_a_refused_param_outside_a_transaction_leaves_nothing_either(alice, project):
    # What a request does: no transaction around the statement, so the statement's own error
    # must undo it, and the connection must still work for the general path that follows.
    run = RunFactory(experiment=ExperimentFactory(project=project))
    actor = token_actor(alice, project)
    run_log_batch_by_id(actor=actor, run_id=run.run_id, params=[ParamIn("lr", "0.1")])
    assert not connection.in_atomic_block
    with pytest.raises(InvalidInput, match="lr"):
        run_log_batch_by_id(
            actor=actor,
            run_id=run.run_id,
            metrics=SWEEP_POINTS,
            params=[ParamIn("lr", "0.2")],
            tags=[TagIn("team", "rl")],
        )
    assert stored_all(run) == ([], [], [("lr", "0.1")], [], run.name, 0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_changing_one_param_cannot_both_succeed(alice, project):
    # Each batch checks against what it sees; the conflict clause sees the other's committed
    # row even when it committed after this statement began.
    run = RunFactory(experiment=ExperimentFactory(project=project))
    actor = token_actor(alice, project)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def log(value: str) -> None:
        try:
            barrier.wait()
            run_log_batch_by_id(
                actor=actor,
                run_id=run.run_id,
                metrics=[MetricIn("loss", float(value), 1, int(value))],
                params=[ParamIn("seed", value)],
            )
            outcomes.append("ok")
        except InvalidInput:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=log, args=(str(i),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] + ["refused"] * 7
    (seed,) = Param.objects.filter(run=run).values_list("value", flat=True)
    # Only the batch whose param stuck wrote its point.
    assert list(Metric.objects.filter(run=run).values_list("step", flat=True)) == [int(seed)]


def test_a_parent_tag_goes_the_general_way_and_links_the_run(run, alice, project):
    parent = RunFactory(experiment=run.experiment)
    run_log_batch_by_id(
        actor=token_actor(alice, project),
        run_id=run.run_id,
        tags=[TagIn("mlflow.parentRunId", parent.run_id)],
    )
    run.refresh_from_db()
    assert run.parent_id == parent.pk


def test_params_and_tags_refuse_what_the_general_path_refuses(
    run, alice, bob, charlie, other_project, project
):
    batch = {"params": [ParamIn("lr", "1")], "tags": [TagIn("team", "rl")]}
    with pytest.raises(PermissionDenied):
        run_log_batch_by_id(actor=token_actor(bob, project), run_id=run.run_id, **batch)
    with pytest.raises(Http404):
        run_log_batch_by_id(actor=token_actor(charlie, other_project), run_id=run.run_id, **batch)
    Run.objects.filter(pk=run.pk).update(lifecycle=Lifecycle.DELETED)
    with pytest.raises(InvalidInput, match="deleted"):
        run_log_batch_by_id(actor=token_actor(alice, project), run_id=run.run_id, **batch)
    assert stored_all(run)[2:4] == ([], [])


key_value = st.tuples(st.sampled_from(["a", "b", "mlflow.runName"]), st.sampled_from(["x", "y"]))


def refusal(write, **arguments) -> str | None:
    try:
        write(**arguments)
    except InvalidInput as error:
        return str(error)
    return None


class TestBatchesSameAsTheGeneralPath(HypothesisTestCase):
    @settings(max_examples=30, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.lists(point, max_size=5),
                st.dictionaries(st.sampled_from(["p", "q"]), st.sampled_from(["1", "2"])),
                st.lists(key_value, max_size=4),
            ),
            min_size=1,
            max_size=3,
        )
    )
    def test_any_batches_leave_the_same_rows_and_refuse_alike(self, batches):
        actor, fast, general = two_runs_of_a_new_writer()
        for points, params, tags in batches:
            batch = {
                "metrics": [MetricIn(k, v, t, s) for k, v, t, s in points],
                "params": [ParamIn(k, v) for k, v in params.items()],
                "tags": [TagIn(k, v) for k, v in tags],
            }
            fast_error = refusal(run_log_batch_by_id, actor=actor, run_id=fast.run_id, **batch)
            general_error = refusal(run_log_batch, run=Run.objects.get(pk=general.pk), **batch)
            if general_error is not None:
                general_error = general_error.replace(general.run_id, fast.run_id)
            assert fast_error == general_error
        fast_rows, general_rows = stored_all(fast), stored_all(general)
        assert fast_rows[:4] == general_rows[:4]
        # The name follows mlflow.runName on both, from different starting names.
        tags = dict(fast_rows[3])
        assert fast_rows[4] == tags.get("mlflow.runName", fast.name)
        assert general_rows[4] == tags.get("mlflow.runName", general.name)


# --- creating a run ----------------------------------------------------------------------


@on_postgresql
def test_creating_a_run_with_a_token_is_one_statement_and_answers_as_stored(
    default_experiment, alice, project, django_assert_num_queries
):
    actor = token_actor(alice, project)
    with django_assert_num_queries(1):
        run, tags = run_create_by_id(
            actor=actor,
            experiment_id=default_experiment.pk,
            name="trial",
            start_time=5,
            tags={"mlflow.source.name": "train.py", "team": "rl"},
        )
    stored_run = Run.objects.select_related("user").get(pk=run.pk)
    assert run_info_out(run) == run_info_out(stored_run)
    assert tags == dict(RunTag.objects.filter(run=run).values_list("key", "value"))
    assert tags == {
        "mlflow.runName": "trial",
        "mlflow.source.name": "train.py",
        "mlflow.user": "alice",
        "team": "rl",
    }
    assert list(tags) == sorted(tags)


def test_creating_writes_what_the_general_path_writes(default_experiment, alice, project):
    inputs = {"name": "", "start_time": None, "tags": {"mlflow.runName": "from-tag", "x": "1"}}
    fast, fast_tags = run_create_by_id(
        actor=token_actor(alice, project), experiment_id=default_experiment.pk, **inputs
    )
    general = run_create(actor=Actor(user=alice), experiment=default_experiment, **inputs)
    fields = ["experiment_id", "name", "status", "end_time", "lifecycle", "user_id", "parent_id"]
    fast_row = Run.objects.values(*fields, "metric_seq").get(pk=fast.pk)
    assert fast_row == Run.objects.values(*fields, "metric_seq").get(pk=general.pk)
    assert fast_tags == dict(RunTag.objects.filter(run=general).values_list("key", "value"))
    assert Run.objects.get(pk=fast.pk).artifact_uri.endswith(f"/{fast.run_id}/artifacts")


def test_creating_refuses_what_the_general_path_refuses(
    default_experiment, alice, bob, charlie, other_project, project
):
    with pytest.raises(PermissionDenied):
        run_create_by_id(actor=token_actor(bob, project), experiment_id=default_experiment.pk)
    with pytest.raises(Http404):
        run_create_by_id(
            actor=token_actor(charlie, other_project), experiment_id=default_experiment.pk
        )
    with pytest.raises(Http404):
        run_create_by_id(actor=token_actor(alice, project), experiment_id=2**62)
    with pytest.raises(InvalidInput, match="tag key"):
        run_create_by_id(
            actor=token_actor(alice, project),
            experiment_id=default_experiment.pk,
            tags={"../x": "1"},
        )
    default_experiment.lifecycle = Lifecycle.DELETED
    default_experiment.save()
    with pytest.raises(InvalidInput, match="deleted experiment"):
        run_create_by_id(actor=token_actor(alice, project), experiment_id=default_experiment.pk)
    assert not Run.objects.exists()


def test_creating_a_child_run_goes_the_general_way_and_links_it(default_experiment, alice, project):
    actor = token_actor(alice, project)
    parent, _ = run_create_by_id(actor=actor, experiment_id=default_experiment.pk)
    child, tags = run_create_by_id(
        actor=actor,
        experiment_id=default_experiment.pk,
        tags={"mlflow.parentRunId": parent.run_id},
    )
    assert Run.objects.get(pk=child.pk).parent_id == parent.pk
    assert tags["mlflow.parentRunId"] == parent.run_id
