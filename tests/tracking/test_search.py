"""MLflow's search grammar: parsing, errors, and what filters and orderings select."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.factories import ExperimentFactory, ParamFactory, RunFactory, RunTagFactory
from tracking.models import Experiment, ExperimentTag, LatestMetric, Run
from tracking.search import (
    ATTRIBUTE,
    EXPERIMENT_GRAMMAR,
    METRIC,
    PARAM,
    RUN_GRAMMAR,
    TAG,
    Comparison,
    OrderBy,
    SearchError,
    filter_experiments,
    filter_runs,
    order_experiments,
    order_runs,
    parse_experiment_filter,
    parse_filter,
    parse_order_by,
)

# --- parsing -----------------------------------------------------------------------------------


def test_a_filter_of_three_comparisons_parses_in_order():
    assert parse_filter("metrics.acc > 0.9 and params.lr = '0.01' and tags.team = 'rl'") == [
        Comparison(METRIC, "acc", ">", 0.9),
        Comparison(PARAM, "lr", "=", "0.01"),
        Comparison(TAG, "team", "=", "rl"),
    ]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_an_empty_filter_has_no_comparisons(text):
    assert parse_filter(text) == []


@pytest.mark.parametrize(
    ("prefix", "kind"),
    [
        ("metrics", METRIC),
        ("metric", METRIC),
        ("params", PARAM),
        ("param", PARAM),
        ("parameter", PARAM),
        ("parameters", PARAM),
        ("tags", TAG),
        ("tag", TAG),
    ],
)
def test_every_prefix_alias_names_its_kind(prefix, kind):
    value = "1" if kind == METRIC else "'1'"
    [comparison] = parse_filter(f"{prefix}.x = {value}")
    assert (comparison.kind, comparison.key) == (kind, "x")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("attributes.status = 'FINISHED'", "status"),
        ("attribute.status = 'FINISHED'", "status"),
        ("attr.status = 'FINISHED'", "status"),
        ("run.status = 'FINISHED'", "status"),
        ("status = 'FINISHED'", "status"),
        ("attributes.run_uuid = 'abc'", "run_id"),
        ("run_id = 'abc'", "run_id"),
        ("`Run name` = 'abc'", "run_name"),
        ("attributes.`run name` = 'abc'", "run_name"),
        ("created > 5", "start_time"),
        ("Created > 5", "start_time"),
        ("attr.end_time > 5", "end_time"),
        ("user_id = 'alice'", "user_id"),
        ("artifact_uri = 'x'", "artifact_uri"),
    ],
)
def test_attribute_prefixes_and_aliases_resolve_to_one_attribute(text, key):
    [comparison] = parse_filter(text)
    assert (comparison.kind, comparison.key) == (ATTRIBUTE, key)


def test_keys_may_be_quoted_with_backticks_or_double_quotes():
    assert parse_filter("metrics.`my metric` < 1 and params.\"a b\" = 'x'") == [
        Comparison(METRIC, "my metric", "<", 1),
        Comparison(PARAM, "a b", "=", "x"),
    ]


def test_an_unquoted_key_may_contain_dots_dashes_and_slashes():
    [comparison] = parse_filter("tags.mlflow.source-name/x = 'a'")
    assert comparison.key == "mlflow.source-name/x"


def test_string_values_take_single_or_double_quotes_and_doubled_quotes_escape():
    assert [c.value for c in parse_filter("""tags.a = "x y" and tags.b = 'it''s'""")] == [
        "x y",
        "it's",
    ]


@pytest.mark.parametrize(
    ("literal", "value"),
    [("5", 5), ("-5", -5), ("+5", 5), ("0.25", 0.25), (".5", 0.5), ("1e3", 1000.0),
     ("-2.5E-2", -0.025), ("1.", 1.0), ("1e999", math.inf), ("-1e999", -math.inf)],
)  # fmt: skip
def test_numeric_literals(literal, value):
    assert parse_filter(f"metrics.x >= {literal}") == [Comparison(METRIC, "x", ">=", value)]


def test_keywords_are_case_insensitive():
    text = (
        "params.a like 'x%' AnD params.b iLike 'y' and run_id in ('a') and run_id not IN ('b') "
        "and tags.c is null and tags.d Is Not Null"
    )
    assert [c.comparator for c in parse_filter(text)] == [
        "LIKE",
        "ILIKE",
        "IN",
        "NOT IN",
        "IS NULL",
        "IS NOT NULL",
    ]


def test_in_takes_a_list_of_quoted_strings():
    [comparison] = parse_filter("attributes.run_id IN ('a', \"b\",'c' )")
    assert comparison == Comparison(ATTRIBUTE, "run_id", "IN", ("a", "b", "c"))


def test_no_whitespace_is_needed_around_comparators():
    assert parse_filter("metrics.acc>=0.5 and params.lr!='1'") == [
        Comparison(METRIC, "acc", ">=", 0.5),
        Comparison(PARAM, "lr", "!=", "1"),
    ]


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("metrics.acc > 0.9 or params.lr = '1'", 18, "OR is not supported"),
        ("metrics.acc foo 1", 12, "expected a comparator"),
        ("metrics.acc", 11, "expected a comparator (=, !=, >, >=, <, <=, LIKE"),
        ("metrics.acc > 'x'", 14, "expected a number for metrics.acc"),
        ("params.lr = 0.01", 12, "expected a quoted string for params.lr"),
        ("params.lr > '1'", 10, "> is not supported for params.lr"),
        ("metrics.acc LIKE 1", 12, "LIKE is not supported for metrics.acc"),
        ("metrics.a IN ('x')", 10, "IN is not supported"),
        ("start_time LIKE '1%'", 11, "LIKE is not supported"),
        ("attributes.start_time IS NULL", 22, "IS NULL is not supported"),
        ("foo.bar = '1'", 0, "unknown key type 'foo'"),
        ("dataset.size = '1'", 8, "unknown dataset key 'size'"),
        ("dataset.name > 'a'", 13, "> is not supported for dataset.name"),
        ("dataset.name IS NULL", 13, "IS NULL is not supported"),
        ("dataset.digest = 1", 17, "expected a quoted string for dataset.digest"),
        ("attributes.lifecycle_stage = 'active'", 11, "unknown attribute 'lifecycle_stage'"),
        ("acc > 1", 0, "unknown attribute 'acc'"),
        ("metrics.acc > 1 metrics.b > 2", 16, "expected AND or the end of the filter"),
        ("metrics.acc > 1 and", 19, "expected a key"),
        ("metrics. > 1", 8, "expected a key after metrics."),
        ("params.x = 'abc", 11, "unterminated quoted string"),
        ("metrics.`abc > 1", 8, "unterminated quoted string"),
        ("run_id IN ()", 11, "expected a quoted string"),
        ("run_id IN ('a' 'b')", 15, "expected ',' or ')'"),
        ("run_id IN 'a'", 10, "parenthesised list"),
        ("metrics.x > 1e", 12, "exponent has no digits"),
        ("metrics.x > 12abc", 12, "malformed number"),
        ("tags.x IS 5", 10, "expected NULL or NOT NULL"),
        ("tags.x IS NOT 5", 14, "expected NULL"),
        ("run_id NOT 'a'", 11, "expected IN"),
        ("tags.x = 'a\x00'", 11, "is not allowed"),
        ("(metrics.x > 1)", 0, "expected a key"),
    ],
)
def test_a_bad_filter_says_what_is_wrong_and_where(text, position, message):
    with pytest.raises(SearchError) as caught:
        parse_filter(text)
    assert caught.value.position == position
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"Invalid filter at position {position}: ")


def test_search_error_is_a_value_error():
    with pytest.raises(ValueError, match="OR is not supported"):
        parse_filter("tags.a = 'x' OR tags.b = 'y'")


def test_a_filter_that_is_not_a_string_is_a_search_error():
    with pytest.raises(SearchError):
        parse_filter(["metrics.x > 1"])


def test_a_comparison_prints_as_text_that_parses_back():
    comparisons = [
        Comparison(METRIC, "my metric", ">", 0.5),
        Comparison(PARAM, "it`s", "=", "it's"),
        Comparison(TAG, "mlflow.user", "IS NOT NULL"),
        Comparison(ATTRIBUTE, "run_id", "NOT IN", ("a", "b")),
        Comparison(ATTRIBUTE, "start_time", "<", -math.inf),
    ]
    assert [str(c) for c in comparisons] == [
        "metrics.`my metric` > 0.5",
        "params.`it``s` = 'it''s'",
        "tags.mlflow.user IS NOT NULL",
        "attributes.run_id NOT IN ('a', 'b')",
        "attributes.start_time < -1e999",
    ]
    assert parse_filter(" and ".join(map(str, comparisons))) == comparisons


def test_order_by_parses_keys_directions_and_quotes():
    assert parse_order_by(
        ["metrics.acc DESC", "params.lr", "end_time ASC", "metrics.`my m` asc", 'tags."a b" DESC']
    ) == [
        OrderBy(METRIC, "acc", ascending=False),
        OrderBy(PARAM, "lr"),
        OrderBy(ATTRIBUTE, "end_time"),
        OrderBy(METRIC, "my m"),
        OrderBy(TAG, "a b", ascending=False),
    ]


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        (["metrics.acc sideways"], "position 12: expected ASC or DESC"),
        (["metrics.acc DESC please"], "position 17: unexpected"),
        (["foo.bar"], "unknown key type"),
        (["dataset.name"], "cannot be ordered by their datasets"),
        (["lifecycle_stage"], "unknown attribute"),
        ([""], "expected a key"),
        (["metrics.acc", "metric.acc DESC"], "more than once"),
        ("metrics.acc", "must be a list"),
        ([5], "must be a string"),
    ],
)
def test_a_bad_order_by_is_a_search_error(order_by, message):
    with pytest.raises(SearchError, match=message):
        parse_order_by(order_by)


def test_experiment_filters_know_experiment_attributes_only():
    assert parse_experiment_filter("name LIKE 'b%' and tags.team = 'rl' and creation_time > 5") == [
        Comparison(ATTRIBUTE, "name", "LIKE", "b%"),
        Comparison(TAG, "team", "=", "rl"),
        Comparison(ATTRIBUTE, "creation_time", ">", 5),
    ]
    for bad in ["metrics.acc > 1", "run_id = 'x'", "experiment_id LIKE '1%'"]:
        with pytest.raises(SearchError):
            parse_experiment_filter(bad)


# --- property tests of the parser --------------------------------------------------------------

_texts = st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))
_fragments = st.sampled_from(
    ["metrics.", "params.", "tags.", "attributes.", "run_id", "start_time", "acc", "`k`", '"k"',
     " ", "=", "!=", ">", "<=", "LIKE", "ILIKE", "IN", "NOT", "IS", "NULL", "and", "or", "(",
     ")", ",", "'v'", "'", '"', "`", "1", "-1.5e3", ".", "e", "%", "_"]
)  # fmt: skip


@settings(max_examples=300)
@given(st.one_of(st.text(), st.lists(_fragments, max_size=12).map("".join)))
@example("metrics.x > 1" + "0" * 5000)
@example("start_time > " + "9" * 5000)
def test_any_text_parses_or_raises_a_search_error(text):
    try:
        comparisons = parse_filter(text)
    except SearchError as error:
        assert error.position is None or 0 <= error.position <= len(text)
    else:
        assert all(isinstance(c, Comparison) for c in comparisons)


@settings(max_examples=200)
@given(st.lists(st.one_of(st.text(), st.lists(_fragments, max_size=6).map("".join)), max_size=3))
def test_any_order_by_parses_or_raises_a_search_error(order_by):
    try:
        clauses = parse_order_by(order_by)
    except SearchError as error:
        assert str(error)
    else:
        assert len(clauses) == len(order_by)


_keys = st.one_of(
    st.text(alphabet="abcxyz_.-/0123456789", min_size=1, max_size=12),
    _texts.filter(bool),
)
_strings = _texts
_numbers = st.one_of(
    st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1),
    st.floats(allow_nan=False),
)


@st.composite
def comparisons(draw) -> Comparison:
    kind = draw(st.sampled_from([METRIC, PARAM, TAG, ATTRIBUTE]))
    key = (
        draw(st.sampled_from(sorted(RUN_GRAMMAR.attributes))) if kind == ATTRIBUTE else draw(_keys)
    )
    comparator = draw(st.sampled_from(RUN_GRAMMAR.comparators(kind, key)))
    if comparator in ("IS NULL", "IS NOT NULL"):
        value = None
    elif comparator in ("IN", "NOT IN"):
        value = tuple(draw(st.lists(_strings, min_size=1, max_size=4)))
    elif kind == METRIC or (kind == ATTRIBUTE and key in RUN_GRAMMAR.numeric_attributes):
        value = draw(_numbers)
    else:
        value = draw(_strings)
    return Comparison(kind, key, comparator, value)


@settings(max_examples=300)
@given(st.lists(comparisons(), max_size=5))
def test_generated_comparisons_round_trip_through_text(generated):
    assert parse_filter(" and ".join(map(str, generated))) == generated


# --- what filters select -----------------------------------------------------------------------


def _metric(run: Run, key: str, value: float) -> None:
    LatestMetric.objects.create(
        run=run,
        key=key,
        value=0.0 if math.isnan(value) else value,
        is_nan=math.isnan(value),
        timestamp=1,
    )


@pytest.fixture
def runs(default_experiment, alice, bob):
    """Four runs: alpha and Beta with params, gamma with a NaN accuracy, delta_x with loss only."""
    alpha = RunFactory(
        experiment=default_experiment, name="alpha", start_time=1000, end_time=2000,
        status="FINISHED", user=alice, artifact_uri="s3://bucket/alpha",
    )  # fmt: skip
    beta = RunFactory(experiment=default_experiment, name="Beta", start_time=2000, user=bob)
    gamma = RunFactory(experiment=default_experiment, name="gamma", start_time=3000)
    delta = RunFactory(experiment=default_experiment, name="delta_x", start_time=4000)
    ParamFactory(run=alpha, key="lr", value="0.01")
    ParamFactory(run=alpha, key="model", value="ResNet")
    ParamFactory(run=beta, key="lr", value="0.1")
    ParamFactory(run=beta, key="model", value="resnet")
    RunTagFactory(run=alpha, key="team", value="rl")
    RunTagFactory(run=beta, key="team", value="RL")
    RunTagFactory(run=gamma, key="pattern", value="a*b[c]?\\d")
    _metric(alpha, "acc", 0.95)
    _metric(beta, "acc", 0.5)
    _metric(gamma, "acc", math.nan)
    _metric(delta, "loss", 1.5)
    return {"alpha": alpha, "Beta": beta, "gamma": gamma, "delta_x": delta}


def selected(text: str) -> set[str]:
    return {run.name for run in filter_runs(Run.objects.all(), text)}


def ordered(order_by: list[str] | None, text: str = "") -> list[str]:
    return [run.name for run in order_runs(filter_runs(Run.objects.all(), text), order_by)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", {"alpha", "Beta", "gamma", "delta_x"}),
        ("metrics.acc > 0.9", {"alpha"}),
        ("metrics.acc >= 0.5", {"alpha", "Beta"}),
        ("metrics.acc <= 1", {"alpha", "Beta"}),
        ("metrics.acc = 0.5", {"Beta"}),
        ("metrics.acc < 0.6", {"Beta"}),
        ("metrics.acc = 0", set()),
        ("metrics.acc != 0.5", {"alpha", "gamma"}),
        ("metrics.acc IS NULL", {"delta_x"}),
        ("metrics.acc IS NOT NULL", {"alpha", "Beta", "gamma"}),
        ("metrics.acc < 1e999", {"alpha", "Beta"}),
        ("params.lr = '0.01'", {"alpha"}),
        ("params.lr != '0.01'", {"Beta"}),
        ("params.lr IS NULL", {"gamma", "delta_x"}),
        ("params.lr IS NOT NULL", {"alpha", "Beta"}),
        ("tags.team = 'rl'", {"alpha"}),
        ("tags.team != 'rl'", {"Beta"}),
        ("tags.missing IS NULL", {"alpha", "Beta", "gamma", "delta_x"}),
        ("metrics.acc > 0.1 and params.model = 'resnet'", {"Beta"}),
        ("metrics.acc > 0.1 and tags.team = 'rl' and params.lr = '0.1'", set()),
    ],
)
def test_metrics_params_and_tags_select_runs(runs, text, names):
    assert selected(text) == names


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("params.model LIKE 'Res%'", {"alpha"}),
        ("params.model LIKE 'res%'", {"Beta"}),
        ("params.model LIKE '%Net'", {"alpha"}),
        ("params.model ILIKE 'RES%'", {"alpha", "Beta"}),
        ("params.model ILIKE '%net'", {"alpha", "Beta"}),
        ("params.model LIKE 'r_snet'", {"Beta"}),
        ("params.model LIKE 'resnet_'", set()),
        ("params.model LIKE '%'", {"alpha", "Beta"}),
        ("tags.team LIKE 'RL'", {"Beta"}),
        ("tags.team ILIKE 'rL'", {"alpha", "Beta"}),
        # GLOB and LIKE syntax of the databases must stay literal: *, ?, [ ] and \ .
        ("tags.pattern LIKE 'a*b[c]?\\d'", {"gamma"}),
        ("tags.pattern LIKE 'a%b[c]_\\d'", {"gamma"}),
        ("tags.pattern ILIKE 'A*B[C]?\\D'", {"gamma"}),
        ("tags.pattern LIKE 'ax%'", set()),
        ("tags.pattern LIKE 'a[*]%'", set()),
        ("run_name LIKE 'delt_%'", {"delta_x"}),
        ("run_name LIKE 'beta'", set()),
        ("run_name ILIKE 'beta'", {"Beta"}),
    ],
)
def test_like_is_case_sensitive_and_ilike_is_not(runs, text, names):
    assert selected(text) == names


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("attributes.status = 'FINISHED'", {"alpha"}),
        ("status != 'FINISHED'", {"Beta", "gamma", "delta_x"}),
        ("status IN ('FINISHED', 'KILLED')", {"alpha"}),
        ("status NOT IN ('RUNNING')", {"alpha"}),
        ("attributes.run_name = 'gamma'", {"gamma"}),
        ("`Run name` = 'gamma'", {"gamma"}),
        ("run_name IN ('gamma', 'Beta')", {"gamma", "Beta"}),
        ("user_id = 'alice'", {"alpha"}),
        ("user_id != 'alice'", {"Beta"}),
        ("user_id NOT IN ('bob')", {"alpha"}),
        ("user_id LIKE 'b%'", {"Beta"}),
        ("artifact_uri LIKE 's3://%'", {"alpha"}),
        ("start_time >= 2000", {"Beta", "gamma", "delta_x"}),
        ("start_time > 1999.5", {"Beta", "gamma", "delta_x"}),
        ("start_time > 2000.5", {"gamma", "delta_x"}),
        ("start_time < 2000.5", {"alpha", "Beta"}),
        ("start_time <= 1999.9", {"alpha"}),
        ("start_time = 2000.0", {"Beta"}),
        ("start_time = 2000.5", set()),
        ("start_time != 2000.5", {"alpha", "Beta", "gamma", "delta_x"}),
        ("start_time != 2000", {"alpha", "gamma", "delta_x"}),
        ("created < 2500", {"alpha", "Beta"}),
        ("start_time < 1e30", {"alpha", "Beta", "gamma", "delta_x"}),
        ("start_time > -99999999999999999999999", {"alpha", "Beta", "gamma", "delta_x"}),
        ("start_time > 1e999", set()),
        ("start_time <= -1e999", set()),
        ("end_time > 1500", {"alpha"}),
        ("end_time != 5", {"alpha"}),
        ("end_time < 1e999", {"alpha"}),
    ],
)
def test_attributes_select_runs(runs, text, names):
    assert selected(text) == names


@pytest.mark.django_db
def test_run_id_in_and_not_in_select_runs_by_id(runs):
    alpha, gamma = runs["alpha"].run_id, runs["gamma"].run_id
    assert selected(f"run_id IN ('{alpha}', '{gamma}', 'nope')") == {"alpha", "gamma"}
    assert selected(f"attributes.run_uuid NOT IN ('{alpha}')") == {"Beta", "gamma", "delta_x"}
    assert selected(f"run_id = '{alpha}'") == {"alpha"}
    assert selected(f"run_id LIKE '{alpha[:6]}%'") == {"alpha"}


@pytest.mark.django_db
def test_a_filter_narrows_the_queryset_it_is_given(runs, other_project):
    other = RunFactory(experiment=other_project.experiments.get(), name="alpha")
    ParamFactory(run=other, key="lr", value="0.01")
    visible = Run.objects.filter(experiment=runs["alpha"].experiment)
    assert list(filter_runs(visible, "params.lr = '0.01'")) == [runs["alpha"]]


# --- ordering ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_runs_are_ordered_by_start_time_descending_by_default(runs):
    assert ordered(None) == ["delta_x", "gamma", "Beta", "alpha"]
    assert ordered([]) == ["delta_x", "gamma", "Beta", "alpha"]


@pytest.mark.django_db
def test_ordering_by_a_metric_puts_nan_then_missing_last_in_both_directions(runs):
    assert ordered(["metrics.acc DESC"]) == ["alpha", "Beta", "gamma", "delta_x"]
    assert ordered(["metrics.acc"]) == ["Beta", "alpha", "gamma", "delta_x"]
    assert ordered(["metric.acc ASC"]) == ["Beta", "alpha", "gamma", "delta_x"]


@pytest.mark.django_db
def test_ordering_by_a_param_or_tag_puts_missing_keys_last(runs):
    # gamma and delta_x have no lr; between them the start_time DESC tie-break decides.
    assert ordered(["params.lr"]) == ["alpha", "Beta", "delta_x", "gamma"]
    assert ordered(["params.lr DESC"]) == ["Beta", "alpha", "delta_x", "gamma"]
    assert ordered(["tags.team DESC"]) == ["alpha", "Beta", "delta_x", "gamma"]


@pytest.mark.django_db
def test_ordering_by_attributes_puts_missing_values_last(runs):
    assert ordered(["attributes.end_time DESC"]) == ["alpha", "delta_x", "gamma", "Beta"]
    assert ordered(["end_time"]) == ["alpha", "delta_x", "gamma", "Beta"]
    assert ordered(["start_time ASC"]) == ["alpha", "Beta", "gamma", "delta_x"]
    assert ordered(["run_name DESC"]) == ["gamma", "delta_x", "alpha", "Beta"]
    assert ordered(["user_id DESC"]) == ["Beta", "alpha", "delta_x", "gamma"]


@pytest.mark.django_db
def test_ordering_combines_clauses_and_breaks_ties_by_start_time_then_run_id(default_experiment):
    first = RunFactory(experiment=default_experiment, name="a", start_time=5, run_id="b" * 32)
    second = RunFactory(experiment=default_experiment, name="b", start_time=5, run_id="a" * 32)
    third = RunFactory(experiment=default_experiment, name="c", start_time=9, run_id="c" * 32)
    for run in (first, second, third):
        ParamFactory(run=run, key="group", value="g")
    ParamFactory(run=first, key="seed", value="1")
    ParamFactory(run=second, key="seed", value="1")
    ParamFactory(run=third, key="seed", value="2")
    assert ordered(["params.group"]) == ["c", "b", "a"]
    assert ordered(["params.group", "params.seed DESC"]) == ["c", "b", "a"]
    assert ordered(["params.seed", "run_id DESC"]) == ["a", "b", "c"]


@pytest.mark.django_db
def test_ordering_and_filtering_by_the_same_metric_work_together(runs):
    assert ordered(["metrics.acc DESC"], "metrics.acc > 0.1") == ["alpha", "Beta"]


# --- experiments -------------------------------------------------------------------------------


@pytest.fixture
def experiments(project):
    base = datetime(2024, 1, 1, tzinfo=UTC)
    made = {}
    for index, name in enumerate(["bert-base", "BERT-large", "resnet"]):
        made[name] = ExperimentFactory(
            project=project,
            name=name,
            created_at=base + timedelta(milliseconds=index * 1000, microseconds=500),
            updated_at=base + timedelta(days=3 - index),
        )
    ExperimentTag.objects.create(experiment=made["resnet"], key="team", value="vision")
    ExperimentTag.objects.create(experiment=made["bert-base"], key="team", value="nlp")
    return made


def _ms(name: str, experiments) -> int:
    return int(experiments[name].created_at.timestamp() * 1000)


def experiment_names(text: str, project) -> set[str]:
    qs = Experiment.objects.filter(project=project).exclude(name="Default")
    return {e.name for e in filter_experiments(qs, text)}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("name = 'resnet'", {"resnet"}),
        ("attributes.name != 'resnet'", {"bert-base", "BERT-large"}),
        ("name LIKE 'bert%'", {"bert-base"}),
        ("name ILIKE 'bert%'", {"bert-base", "BERT-large"}),
        ("name IN ('resnet', 'nope')", {"resnet"}),
        ("tags.team = 'vision'", {"resnet"}),
        ("tags.team LIKE '%l%'", {"bert-base"}),
        ("tags.team IS NULL", {"BERT-large"}),
        ("tags.team IS NOT NULL", {"bert-base", "resnet"}),
        ("creation_time > 1e999", set()),
        ("creation_time < 1e999", {"bert-base", "BERT-large", "resnet"}),
        ("last_update_time > 0", {"bert-base", "BERT-large", "resnet"}),
    ],
)
def test_experiment_filters_select_experiments(experiments, project, text, names):
    assert experiment_names(text, project) == names


@pytest.mark.django_db
def test_experiment_times_compare_as_whole_milliseconds(experiments, project):
    # Created at ...000.5 ms: its MLflow creation_time is the whole millisecond.
    ms = _ms("BERT-large", experiments)
    assert experiment_names(f"creation_time = {ms}", project) == {"BERT-large"}
    assert experiment_names(f"creation_time >= {ms}", project) == {"BERT-large", "resnet"}
    assert experiment_names(f"creation_time > {ms}", project) == {"resnet"}
    assert experiment_names(f"creation_time <= {ms}", project) == {"bert-base", "BERT-large"}
    assert experiment_names(f"creation_time < {ms}", project) == {"bert-base"}
    assert experiment_names(f"creation_time != {ms}", project) == {"bert-base", "resnet"}


@pytest.mark.django_db
def test_experiment_ids_compare_as_mlflows_strings(experiments, project):
    resnet = experiments["resnet"].pk
    assert experiment_names(f"experiment_id = '{resnet}'", project) == {"resnet"}
    assert experiment_names(f"experiment_id = '0{resnet}'", project) == set()
    assert experiment_names(f"experiment_id IN ('{resnet}', 'x', '{'9' * 40}')", project) == {
        "resnet"
    }
    assert experiment_names(f"experiment_id NOT IN ('{resnet}')", project) == {
        "bert-base",
        "BERT-large",
    }
    assert experiment_names("experiment_id != 'x'", project) == {
        "bert-base",
        "BERT-large",
        "resnet",
    }


@pytest.mark.django_db
def test_experiments_are_ordered_by_creation_descending_by_default(experiments, project):
    qs = Experiment.objects.filter(project=project).exclude(name="Default")
    # MLflow's store: creation_time DESC, experiment_id ASC, whatever the last update.
    assert [e.name for e in order_experiments(qs, None)] == ["resnet", "BERT-large", "bert-base"]
    assert [e.name for e in order_experiments(qs, ["last_update_time DESC"])] == [
        "bert-base",
        "BERT-large",
        "resnet",
    ]
    assert [e.name for e in order_experiments(qs, ["creation_time DESC"])] == [
        "resnet",
        "BERT-large",
        "bert-base",
    ]
    assert [e.name for e in order_experiments(qs, ["experiment_id DESC"])] == [
        "resnet",
        "BERT-large",
        "bert-base",
    ]
    with pytest.raises(SearchError, match="only be ordered by attributes"):
        order_experiments(qs, ["tags.team"])


@pytest.mark.django_db
def test_experiment_order_ties_break_as_mlflows(project):
    same = datetime(2024, 1, 1, tzinfo=UTC)
    made = [ExperimentFactory(project=project, name=f"e{i}", created_at=same) for i in range(3)]
    qs = Experiment.objects.filter(pk__in=[e.pk for e in made])
    # By default experiment_id ASC follows; after a given order_by, experiment_id DESC.
    assert [e.name for e in order_experiments(qs, None)] == ["e0", "e1", "e2"]
    assert [e.name for e in order_experiments(qs, ["creation_time"])] == ["e2", "e1", "e0"]


# --- any valid filter runs on the database -----------------------------------------------------


@pytest.mark.django_db
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    generated=st.lists(comparisons(), max_size=4),
    order_by=st.lists(
        st.one_of(
            st.sampled_from(sorted(RUN_GRAMMAR.attributes)),
            st.builds(lambda k: f"metrics.{k}", st.sampled_from(["acc", "loss", "nope"])),
            st.builds(lambda k: f"params.`{k}`", _keys.map(lambda k: k.replace("`", "``"))),
            st.builds(lambda k: f"tags.{k}", st.sampled_from(["team", "x"])),
        ).flatmap(lambda key: st.sampled_from([key, f"{key} DESC", f"{key} ASC"])),
        max_size=3,
        unique_by=lambda clause: clause.split(" ")[0],
    ),
)
def test_any_valid_filter_and_order_run_on_the_database(runs, generated, order_by):
    text = " and ".join(map(str, generated))
    try:
        qs = order_runs(filter_runs(Run.objects.all(), text), order_by)
    except SearchError as error:
        # Only the duplicate-key rule can reject a generated order_by.
        assert "more than once" in str(error)
        return
    found = list(qs)
    assert set(found) <= set(runs.values())


@st.composite
def experiment_comparisons(draw) -> Comparison:
    grammar = EXPERIMENT_GRAMMAR
    kind = draw(st.sampled_from([TAG, ATTRIBUTE]))
    key = draw(st.sampled_from(sorted(grammar.attributes)) if kind == ATTRIBUTE else _keys)
    comparator = draw(st.sampled_from(grammar.comparators(kind, key)))
    if comparator in ("IS NULL", "IS NOT NULL"):
        value = None
    elif comparator in ("IN", "NOT IN"):
        value = tuple(draw(st.lists(st.one_of(_strings, st.integers(0).map(str)), min_size=1)))
    elif key in grammar.numeric_attributes:
        value = draw(st.one_of(_numbers, st.integers(-(10**14), 3 * 10**14)))
    else:
        value = draw(st.one_of(_strings, st.integers(0).map(str)))
    return Comparison(kind, key, comparator, value)


@pytest.mark.django_db
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    generated=st.lists(experiment_comparisons(), max_size=4),
    order_by=st.lists(
        st.sampled_from(sorted(EXPERIMENT_GRAMMAR.attributes)).flatmap(
            lambda key: st.sampled_from([key, f"{key} DESC", f"attributes.{key} ASC"])
        ),
        max_size=3,
        unique_by=lambda clause: clause.split(" ")[0].removeprefix("attributes."),
    ),
)
def test_any_valid_experiment_filter_and_order_run_on_the_database(
    experiments, generated, order_by
):
    text = " and ".join(map(str, generated))
    assert parse_experiment_filter(text) == generated
    found = list(order_experiments(filter_experiments(Experiment.objects.all(), text), order_by))
    assert set(found) <= set(Experiment.objects.all())
