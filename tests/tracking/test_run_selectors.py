"""run_search and experiment_search: view types, paging with tokens, limits, query counts."""

import base64
import json

import pytest

from tests.factories import ExperimentFactory, ParamFactory, RunFactory, RunTagFactory
from tracking.models import Experiment, ExperimentTag, LatestMetric, Lifecycle
from tracking.search import SearchError
from tracking.selectors.runs import experiment_search, run_queryset, run_search

pytestmark = pytest.mark.django_db


@pytest.fixture
def seven_runs(default_experiment):
    runs = [
        RunFactory(experiment=default_experiment, name=f"run-{i}", start_time=1000 + i)
        for i in range(7)
    ]
    for run in runs:
        ParamFactory(run=run, key="lr", value="0.1")
    return runs


def all_pages(**query) -> list[list[str]]:
    pages = []
    token = None
    while True:
        runs, token = run_search(page_token=token, **query)
        pages.append([run.name for run in runs])
        if token is None:
            return pages


def test_page_tokens_chain_through_every_run_exactly_once(default_experiment, seven_runs):
    pages = all_pages(experiments=[default_experiment], max_results=3)
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [name for page in pages for name in page] == [f"run-{i}" for i in range(6, -1, -1)]


def test_a_page_that_holds_the_last_run_has_no_next_token(default_experiment, seven_runs):
    runs, token = run_search(experiments=[default_experiment], max_results=7)
    assert len(runs) == 7
    assert token is None


def test_paging_follows_the_filter_and_order(default_experiment, seven_runs):
    for i, run in enumerate(seven_runs):
        LatestMetric.objects.create(run=run, key="acc", value=i % 3, timestamp=1)
    query = {
        "experiments": [default_experiment],
        "filter_string": "metrics.acc >= 1",
        "order_by": ["metrics.acc DESC"],
    }
    pages = all_pages(max_results=2, **query)
    expected = [run.name for run in run_queryset(**query)]
    assert [name for page in pages for name in page] == expected
    assert expected == ["run-5", "run-2", "run-4", "run-1"]


def test_a_page_token_reused_with_another_search_is_rejected(default_experiment, seven_runs):
    _, token = run_search(experiments=[default_experiment], max_results=2)
    with pytest.raises(SearchError, match="Invalid page token: it belongs to a different search"):
        run_search(
            experiments=[default_experiment],
            filter_string="params.lr = '0.1'",
            max_results=2,
            page_token=token,
        )
    with pytest.raises(SearchError, match="Invalid page token"):
        run_search(
            experiments=[default_experiment],
            order_by=["start_time"],
            max_results=2,
            page_token=token,
        )


def test_the_page_size_may_change_between_pages(default_experiment, seven_runs):
    first, token = run_search(experiments=[default_experiment], max_results=2)
    rest, token = run_search(experiments=[default_experiment], max_results=10, page_token=token)
    assert [r.name for r in first + rest] == [f"run-{i}" for i in range(6, -1, -1)]
    assert token is None


def _token(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not a token",
        "%%%",
        "w6k=",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _token([1, 2]),
        _token({"offset": -1}),
        _token({"offset": "3"}),
        _token({"offset": True}),
        _token({"offset": 10**30}),
        _token({"query": "x"}),
        _token({"offset": 2, "query": "0000000000000000"}),
    ],
)
def test_an_invalid_page_token_is_rejected(default_experiment, seven_runs, token):
    with pytest.raises(SearchError, match="Invalid page token"):
        run_search(experiments=[default_experiment], page_token=token)


def test_view_types_select_by_lifecycle(default_experiment, seven_runs):
    seven_runs[0].lifecycle = Lifecycle.DELETED
    seven_runs[0].save()

    def names(view_type):
        runs, _ = run_search(experiments=[default_experiment], run_view_type=view_type)
        return {run.name for run in runs}

    assert names("ACTIVE_ONLY") == {f"run-{i}" for i in range(1, 7)}
    assert names("DELETED_ONLY") == {"run-0"}
    assert names("ALL") == {f"run-{i}" for i in range(7)}
    assert names("all") == {f"run-{i}" for i in range(7)}
    with pytest.raises(SearchError, match="Invalid view type 'SOMETIMES'"):
        names("SOMETIMES")


@pytest.mark.parametrize("max_results", [0, -1, 50_001, "10", 2.5, True, None])
def test_max_results_outside_1_to_50000_is_rejected(default_experiment, max_results):
    with pytest.raises(SearchError, match="max_results"):
        run_search(experiments=[default_experiment], max_results=max_results)


def test_max_results_of_50000_is_accepted(default_experiment, seven_runs):
    runs, token = run_search(experiments=[default_experiment], max_results=50_000)
    assert len(runs) == 7
    assert token is None


def test_only_runs_of_the_given_experiments_are_found(default_experiment, other_project):
    mine = RunFactory(experiment=default_experiment)
    RunFactory(experiment=other_project.experiments.get())
    second = ExperimentFactory(project=default_experiment.project)
    also_mine = RunFactory(experiment=second)
    runs, _ = run_search(experiments=[default_experiment])
    assert runs == [mine]
    runs, _ = run_search(experiments=Experiment.objects.filter(project=default_experiment.project))
    assert set(runs) == {mine, also_mine}
    assert run_search(experiments=[]) == ([], None)


def test_a_bad_filter_or_order_raises_a_search_error(default_experiment):
    with pytest.raises(SearchError, match="OR is not supported"):
        run_search(experiments=[default_experiment], filter_string="tags.a='1' or tags.b='2'")
    with pytest.raises(SearchError, match="expected ASC or DESC"):
        run_search(experiments=[default_experiment], order_by=["metrics.acc upward"])


def _log_everything(runs) -> None:
    for run in runs:
        ParamFactory(run=run, key="model", value="resnet")
        RunTagFactory(run=run, key="team", value="rl")
        LatestMetric.objects.create(run=run, key="acc", value=0.5, timestamp=1)
        LatestMetric.objects.create(run=run, key="loss", value=0.1, timestamp=1)


@pytest.mark.parametrize("count", [3, 30])
def test_the_query_count_does_not_grow_with_the_runs(
    alice, default_experiment, django_assert_max_num_queries, count
):
    runs = [RunFactory(experiment=default_experiment, user=alice) for _ in range(count)]
    _log_everything(runs)
    with django_assert_max_num_queries(4):
        found, _ = run_search(
            experiments=[default_experiment],
            filter_string="metrics.acc > 0.1 and params.model = 'resnet'",
            order_by=["metrics.loss DESC", "params.model"],
        )
        for run in found:
            assert run.experiment.name == "Default"
            assert run.user.username == "alice"
            assert [p.key for p in run.params.all()] == ["model"]
            assert [t.key for t in run.tags.all()] == ["team"]
            assert {m.key for m in run.latest_metrics.all()} == {"acc", "loss"}
    assert len(found) == count


def test_searching_a_queryset_of_experiments_costs_one_more_query(
    default_experiment, django_assert_max_num_queries
):
    _log_everything([RunFactory(experiment=default_experiment) for _ in range(5)])
    with django_assert_max_num_queries(5):
        found, _ = run_search(experiments=Experiment.objects.all())
        assert sum(len(run.params.all()) for run in found) == 5


# --- experiment_search -------------------------------------------------------------------------


@pytest.fixture
def five_experiments(project):
    made = [ExperimentFactory(project=project, name=f"exp-{i}") for i in range(5)]
    for experiment in made:
        ExperimentTag.objects.create(experiment=experiment, key="team", value="rl")
    made[0].lifecycle = Lifecycle.DELETED
    made[0].save()
    return made


def test_experiment_search_pages_through_the_matching_experiments(project, five_experiments):
    query = {
        "experiments": Experiment.objects.filter(project=project),
        "filter_string": "name LIKE 'exp-%'",
        "order_by": ["name DESC"],
        "max_results": 3,
    }
    first, token = experiment_search(**query)
    rest, last = experiment_search(page_token=token, **query)
    assert [e.name for e in first + rest] == ["exp-4", "exp-3", "exp-2", "exp-1"]
    assert last is None
    with pytest.raises(SearchError, match="Invalid page token"):
        experiment_search(**{**query, "order_by": ["name"]}, page_token=token)


def test_experiment_search_applies_the_view_type(project, five_experiments):
    visible = Experiment.objects.filter(project=project)
    deleted, _ = experiment_search(experiments=visible, view_type="DELETED_ONLY")
    assert [e.name for e in deleted] == ["exp-0"]
    everything, _ = experiment_search(experiments=visible, view_type="ALL")
    assert len(everything) == 6
    with pytest.raises(SearchError, match="Invalid view type"):
        experiment_search(experiments=visible, view_type="NEVER")


def test_experiment_search_prefetches_tags(
    project, five_experiments, django_assert_max_num_queries
):
    with django_assert_max_num_queries(2):
        found, _ = experiment_search(
            experiments=Experiment.objects.filter(project=project),
            filter_string="tags.team = 'rl'",
        )
        assert [[t.value for t in e.tags.all()] for e in found] == [["rl"]] * 4


def test_experiment_search_rejects_bad_max_results(project):
    with pytest.raises(SearchError, match="between 1 and 50000"):
        experiment_search(experiments=Experiment.objects.all(), max_results=0)
