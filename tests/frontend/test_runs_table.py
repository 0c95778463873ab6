"""The runs table during a sweep: default columns, the chooser, ranking child runs, the overview."""

import pytest
from django.urls import reverse

from tests.frontend.seed import T0, add_metric, make_run
from tracking.models import RunTag

pytestmark = pytest.mark.django_db


@pytest.fixture
def sweep(default_experiment, alice):
    """A parent without metrics and 6 trials: epochs constant, lr and optimizer varying."""
    parent = make_run(default_experiment, name="sweep", user=alice, start=T0)
    trials = []
    for i in range(6):
        trial = make_run(
            default_experiment,
            name=f"trial-{i}",
            user=alice,
            start=T0 + 1000 * (i + 1),
            parent=parent,
            params={"epochs": "10", "lr": str(10**-i), "optimizer": "adam" if i % 2 else "sgd"},
        )
        RunTag.objects.create(run=trial, key="team", value=f"t{i % 3}")
        RunTag.objects.create(run=trial, key="mlflow.user", value="alice")
        for key, value in (
            ("accuracy", 0.5 + i / 20),
            ("epoch_time", 3.0),
            ("loss", 1 - i / 10),
            ("val_accuracy", 0.4 + i / 20),
            ("val_loss", 1.1 - i / 10),
        ):
            add_metric(trial, key, [value, value])
        trials.append(trial)
    return parent, trials


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def table(client, experiment, **query):
    url = reverse("experiment", kwargs={"slug": "alpha", "experiment_id": experiment.pk})
    return client.get(url, query).context["table"]


def test_default_columns_are_what_varies_validation_metrics_first(
    alice_client, default_experiment, sweep
):
    columns = [c.id for c in table(alice_client, default_experiment)["columns"]]
    assert columns == [
        "params.lr",
        "params.optimizer",
        "metrics.val_accuracy",
        "metrics.val_loss",
        "metrics.accuracy",
        "metrics.loss",
    ]


def test_the_chooser_offers_attributes_params_metrics_and_tags(
    alice_client, default_experiment, sweep
):
    url = reverse("experiment", kwargs={"slug": "alpha", "experiment_id": default_experiment.pk})
    html = alice_client.get(url).content.decode()
    for value in ("run_id", "end", "params.epochs", "metrics.epoch_time", "tags.team"):
        assert f'name="col" value="{value}"' in html
    assert 'value="tags.mlflow.user"' not in html
    assert 'data-filter-list="column-options"' in html


def test_tag_and_attribute_columns_show_and_sort(alice_client, default_experiment, sweep):
    t = table(
        alice_client, default_experiment, col=["tags.team", "run_id", "end"], sort="tags.team"
    )
    assert [c.id for c in t["columns"]] == ["tags.team", "run_id", "end"]
    values = [row.tags.get("team") for row in t["rows"]]
    assert values == ["t0", "t0", "t1", "t1", "t2", "t2", None]
    row = t["rows"][0]
    assert row.value(t["columns"][1]) == row.run.run_id
    assert row.value(t["columns"][2]) == row.run.end_time


def test_sorting_by_a_metric_ranks_child_runs(alice_client, default_experiment, sweep):
    parent, trials = sweep
    rows = table(alice_client, default_experiment, sort="-metrics.val_accuracy")["rows"]
    # The parent logged no metric: its best child is first, the parent last.
    assert rows[0].run == trials[5]
    assert rows[-1].run == parent
    assert len(rows) == 7
    html = alice_client.get(
        reverse("experiment", kwargs={"slug": "alpha", "experiment_id": default_experiment.pk}),
        {"sort": "-metrics.val_accuracy"},
    ).content.decode()
    assert 'title="Child run of sweep"' in html
    # Sorted by an attribute, child runs sit under their parent again.
    assert [r.run for r in table(alice_client, default_experiment)["rows"]] == [parent]


def test_the_table_costs_the_same_with_tag_columns_and_more_runs(
    alice_client, default_experiment, alice, sweep, django_assert_max_num_queries
):
    query = {"col": ["params.lr", "metrics.loss", "tags.team"], "sort": "-metrics.loss"}
    url = reverse("experiment", kwargs={"slug": "alpha", "experiment_id": default_experiment.pk})
    # The page's 15, and the cells of the chosen tag column (and the child rows' parents joined).
    with django_assert_max_num_queries(17) as few:
        assert alice_client.get(url, query).status_code == 200
    for i in range(10):
        run = make_run(default_experiment, name=f"more-{i}", user=alice, params={"lr": "1"})
        RunTag.objects.create(run=run, key="team", value="x")
        add_metric(run, "loss", [0.1])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert alice_client.get(url, query).status_code == 200


def test_the_overview_has_one_user_row_and_human_labels(alice_client, sweep):
    _, trials = sweep
    run = trials[0]
    RunTag.objects.create(run=run, key="mlflow.source.name", value="train.py")
    RunTag.objects.create(run=run, key="mlflow.source.git.commit", value="abc123")
    html = alice_client.get(reverse("run", kwargs={"slug": "alpha", "run_id": run.run_id}))
    html = html.content.decode()
    details = html.split('<dl class="details">')[1].split("</dl>")[0]
    assert details.count("<dt>User</dt>") == 1
    assert "<dt>Source</dt><dd><code>train.py</code></dd>" in details
    assert "<dt>Git commit</dt>" in details
    assert "Source.name" not in html and "Source.git.commit" not in html


def test_folders_are_drawn_without_an_emoji(alice_client, sweep):
    import io

    from tracking.artifacts import artifact_save

    _, trials = sweep
    run = trials[0]
    root = f"{run.experiment_id}/{run.run_id}/artifacts"
    run.artifact_uri = f"mlflow-artifacts:/{root}"
    run.save(update_fields=["artifact_uri"])
    artifact_save(path=f"{root}/model/weights.bin", content=io.BytesIO(b"x"))
    url = reverse("run_artifacts", kwargs={"slug": "alpha", "run_id": run.run_id})
    html = alice_client.get(url).content.decode()
    assert 'class="icon-folder"' in html and "model/</a>" in html
    assert "\N{FILE FOLDER}" not in html
