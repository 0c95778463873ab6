"""The server-rendered pages: what they show, who may see them, and what they cost in queries."""

import json
from urllib.parse import parse_qsl

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from tests.frontend.seed import add_metric, make_run, seed_experiment
from tracking.models import Experiment, LatestMetric, Lifecycle, RunTag

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(project, default_experiment, alice):
    return seed_experiment(default_experiment, alice)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


@pytest.fixture
def charlie_client(client, charlie, other_project):
    client.force_login(charlie)
    return client


def page_urls(project, experiment, run) -> list[str]:
    slug = project.slug
    return [
        reverse("project", kwargs={"slug": slug}),
        reverse("experiment", kwargs={"slug": slug, "experiment_id": experiment.pk}),
        reverse("runs_csv", kwargs={"slug": slug, "experiment_id": experiment.pk}),
        reverse("run", kwargs={"slug": slug, "run_id": run.run_id}),
        reverse("run_metrics", kwargs={"slug": slug, "run_id": run.run_id}),
        reverse("run_system", kwargs={"slug": slug, "run_id": run.run_id}),
        reverse("run_artifacts", kwargs={"slug": slug, "run_id": run.run_id}),
        reverse("run_children", kwargs={"slug": slug, "run_id": run.run_id}),
        reverse("metric", kwargs={"slug": slug, "run_id": run.run_id, "key": "loss"}),
        reverse("metric_csv", kwargs={"slug": slug, "run_id": run.run_id, "key": "loss"}),
        reverse("run_series", kwargs={"slug": slug, "run_id": run.run_id}) + "?key=loss",
        reverse("compare", kwargs={"slug": slug}) + f"?runs={run.run_id}",
    ]


def test_every_page_works_for_alice(alice_client, project, default_experiment, runs):
    for url in page_urls(project, default_experiment, runs["good"]):
        assert alice_client.get(url).status_code == 200, url


def test_charlie_gets_404_on_every_page_of_alices_project(
    charlie_client, project, default_experiment, runs
):
    for url in page_urls(project, default_experiment, runs["good"]):
        response = charlie_client.get(url)
        assert response.status_code == 404, url
    assert b"Not found" in response.content


def test_a_run_under_another_projects_url_is_not_found(
    charlie_client, other_project, project, runs
):
    url = reverse("run", kwargs={"slug": other_project.slug, "run_id": runs["good"].run_id})
    assert charlie_client.get(url).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, project, runs):
    response = client.get(reverse("project", kwargs={"slug": project.slug}))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_home_lists_projects_with_counts(alice_client, project, runs):
    response = alice_client.get("/")
    assert response.status_code == 200
    row = response.context["projects"][0]
    assert (row.slug, row.experiment_count, row.run_count) == ("alpha", 1, 4)
    assert b"Last activity" in response.content


def test_alice_creates_a_project(alice_client, alice):
    response = alice_client.post(
        reverse("project_new"), {"slug": "beta", "name": "Beta", "description": ""}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("project", kwargs={"slug": "beta"})
    assert alice.memberships.get(project__slug="beta").role == Role.MANAGER


def test_a_taken_slug_is_a_form_error(alice_client, project):
    response = alice_client.post(reverse("project_new"), {"slug": "alpha", "name": "Again"})
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_a_bad_slug_is_a_form_error(alice_client):
    response = alice_client.post(reverse("project_new"), {"slug": "Not A Slug!", "name": "x"})
    assert response.status_code == 200
    assert response.context["form"].errors["slug"]


def test_project_creation_can_be_kept_to_staff(alice_client, settings):
    settings.MLPLATFORM_PROJECT_CREATION_STAFF_ONLY = True
    assert alice_client.get(reverse("project_new")).status_code == 403


def test_project_page_shows_experiments_and_top_level_runs(alice_client, project, runs):
    response = alice_client.get(reverse("project", kwargs={"slug": project.slug}))
    body = response.content.decode()
    assert "Default" in body
    names = [row.run.name for row in response.context["table"]["rows"]]
    assert names == ["live-run", "bad-run", "good-run"]
    good = next(r for r in response.context["table"]["rows"] if r.run.name == "good-run")
    assert good.child_count == 1


def test_the_filter_grammar_narrows_the_runs(alice_client, project, runs):
    url = reverse("project", kwargs={"slug": project.slug})
    response = alice_client.get(url, {"filter": "metrics.accuracy > 0.9 and params.lr = '0.01'"})
    assert [row.run.name for row in response.context["table"]["rows"]] == ["good-run"]


def test_a_bad_filter_shows_the_parse_error_inline(alice_client, project, runs):
    url = reverse("project", kwargs={"slug": project.slug})
    response = alice_client.get(url, {"filter": "metrics.accuracy >> 1"})
    assert response.status_code == 200
    assert response.context["table"]["filter_error"]
    assert 'id="filter-error"' in response.content.decode()
    assert response.context["table"]["rows"] == []


def test_quick_filters_for_status_and_my_runs(alice_client, bob_client, project, runs):
    url = reverse("project", kwargs={"slug": project.slug})
    response = alice_client.get(url, {"status": "RUNNING"})
    assert [row.run.name for row in response.context["table"]["rows"]] == ["live-run"]
    assert response.context["table"]["live"] is True


def test_my_runs_shows_only_the_users_runs(bob_client, project, runs):
    url = reverse("project", kwargs={"slug": project.slug})
    response = bob_client.get(url, {"mine": "1"})
    assert response.context["table"]["rows"] == []


def test_sorting_by_a_metric_column(alice_client, project, runs):
    url = reverse("project", kwargs={"slug": project.slug})
    response = alice_client.get(url, {"sort": "-metrics.accuracy", "col": "metrics.accuracy"})
    rows = response.context["table"]["rows"]
    # Sorted by a value, child runs are ranked among the others; without the value, last.
    assert [row.run.name for row in rows] == ["good-run", "live-run", "bad-run", "child-run"]
    assert [c.id for c in response.context["table"]["columns"]] == ["metrics.accuracy"]
    response = alice_client.get(url, {"sort": "params.lr", "col": "params.lr"})
    assert [row.params.get("lr") for row in response.context["table"]["rows"]] == [
        "0.001",
        "0.01",
        "0.1",
        None,
    ]


@pytest.mark.parametrize("sort", ["-start", "start", "name", "-status", "-duration", "user"])
def test_keyset_pages_cover_every_run_once(alice_client, project, default_experiment, alice, sort):
    for i in range(120):
        # Ties in every column, and runs without a duration or a user, which sort last.
        make_run(
            default_experiment,
            name=f"r{i % 40:03d}",
            start=1_000 + (i // 3),
            duration=None if i % 7 == 0 else 1_000 * (i % 5),
            user=alice if i % 2 else None,
            status=["FINISHED", "FAILED"][i % 2],
        )
    url = reverse("project", kwargs={"slug": project.slug})
    seen, seen_ids, params = [], [], {"sort": sort}
    while True:
        table = alice_client.get(url, params).context["table"]
        seen += [row.run.name for row in table["rows"]]
        seen_ids += [row.run.run_id for row in table["rows"]]
        if not table["next_url"]:
            break
        params = dict(parse_qsl(table["next_url"][1:]))
    assert sorted(seen) == sorted(f"r{i % 40:03d}" for i in range(120))
    assert len(seen_ids) == len(set(seen_ids)) == 120


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")
def test_the_default_page_of_runs_is_read_off_an_index_without_sorting(
    alice_client, project, default_experiment
):
    for i in range(5):
        make_run(default_experiment, name=f"r{i}", start=1_000 + i)
    url = reverse("project", kwargs={"slug": project.slug})
    with CaptureQueriesContext(connection) as queries:
        alice_client.get(url)
    (page,) = [
        q["sql"]
        for q in queries.captured_queries
        if "ORDER BY" in q["sql"] and "LIMIT 51" in q["sql"]
    ]
    with connection.cursor() as cursor:
        # Tiny tables are cheaper to sort; what matters is that the index gives the order.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")
        cursor.execute("EXPLAIN (FORMAT JSON) " + page)
        plan = json.dumps(cursor.fetchone()[0])
    assert "run_experiment_start_id" in plan
    assert '"Sort"' not in plan


def test_the_runs_table_costs_a_fixed_number_of_queries(
    alice_client, project, default_experiment, alice, django_assert_max_num_queries
):
    url = reverse("project", kwargs={"slug": project.slug})
    seed_experiment(default_experiment, alice)
    # 15: the column chooser's tag keys are one query of their own.
    with django_assert_max_num_queries(15) as few:
        alice_client.get(url)
    for _ in range(3):
        seed_experiment(default_experiment, alice)
    with django_assert_max_num_queries(len(few.captured_queries)):
        alice_client.get(url)


def test_htmx_requests_get_only_the_table(alice_client, project, runs):
    url = reverse("project", kwargs={"slug": project.slug})
    response = alice_client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="runs")
    body = response.content.decode()
    assert 'id="runs-table"' in body
    assert "<html" not in body


def test_csv_export_has_the_shown_columns(alice_client, project, default_experiment, runs):
    url = reverse("runs_csv", kwargs={"slug": project.slug, "experiment_id": default_experiment.pk})
    response = alice_client.get(url, {"col": ["params.lr", "metrics.accuracy"]})
    lines = response.content.decode().splitlines()
    assert lines[0].endswith("params.lr,metrics.accuracy")
    assert len(lines) == 4
    assert any(line.startswith(runs["good"].run_id) and ",0.01,1.0" in line for line in lines)


def test_child_rows_expand_under_their_parent(alice_client, project, runs):
    url = reverse("run_children", kwargs={"slug": project.slug, "run_id": runs["good"].run_id})
    body = alice_client.get(url).content.decode()
    assert "child-run" in body
    assert "good-run" not in body


def test_empty_project_shows_how_to_log_a_first_run(alice_client, project):
    body = alice_client.get(reverse("project", kwargs={"slug": project.slug})).content.decode()
    assert "Log your first run" in body
    assert "/accounts/tokens/" in body
    assert "MLFLOW_TRACKING_TOKEN" in body


def test_editors_create_rename_delete_and_restore_experiments(alice_client, project):
    response = alice_client.post(
        reverse("experiment_new", kwargs={"slug": project.slug}), {"name": "sweep"}
    )
    experiment = Experiment.objects.get(project=project, name="sweep")
    assert response["Location"].endswith(f"/e/{experiment.pk}/")
    kwargs = {"slug": project.slug, "experiment_id": experiment.pk}
    alice_client.post(reverse("experiment_rename", kwargs=kwargs), {"name": "sweep-2"})
    experiment.refresh_from_db()
    assert experiment.name == "sweep-2"
    alice_client.post(reverse("experiment_delete", kwargs=kwargs))
    experiment.refresh_from_db()
    assert experiment.lifecycle == Lifecycle.DELETED
    alice_client.post(reverse("experiment_restore", kwargs=kwargs))
    experiment.refresh_from_db()
    assert experiment.lifecycle == Lifecycle.ACTIVE


def test_a_manager_purges_a_deleted_experiment_and_frees_its_name(alice_client, project):
    experiment = Experiment.objects.create(project=project, name="old", lifecycle=Lifecycle.DELETED)
    kwargs = {"slug": project.slug, "experiment_id": experiment.pk}
    page = alice_client.get(reverse("project", kwargs={"slug": project.slug}) + "?deleted=1")
    assert reverse("experiment_purge", kwargs=kwargs) in page.content.decode()
    response = alice_client.post(reverse("experiment_purge", kwargs=kwargs))
    assert response.status_code == 302
    assert not Experiment.objects.filter(pk=experiment.pk).exists()
    alice_client.post(reverse("experiment_new", kwargs={"slug": project.slug}), {"name": "old"})
    assert project.experiments.filter(name="old", lifecycle=Lifecycle.ACTIVE).exists()


def test_an_active_experiment_cannot_be_purged(alice_client, project):
    experiment = Experiment.objects.create(project=project, name="live")
    kwargs = {"slug": project.slug, "experiment_id": experiment.pk}
    response = alice_client.post(reverse("experiment_purge", kwargs=kwargs), follow=True)
    assert "Only a deleted experiment can be purged." in response.content.decode()
    assert Experiment.objects.filter(pk=experiment.pk).exists()


def test_an_editor_cannot_purge(client, project, bob):
    project.memberships.filter(user=bob).update(role="editor")
    client.force_login(bob)
    experiment = Experiment.objects.create(project=project, name="old", lifecycle=Lifecycle.DELETED)
    kwargs = {"slug": project.slug, "experiment_id": experiment.pk}
    assert client.post(reverse("experiment_purge", kwargs=kwargs)).status_code == 403
    assert Experiment.objects.filter(pk=experiment.pk).exists()


def test_charlie_cannot_purge(charlie_client, project):
    experiment = Experiment.objects.create(project=project, name="old", lifecycle=Lifecycle.DELETED)
    kwargs = {"slug": project.slug, "experiment_id": experiment.pk}
    assert charlie_client.post(reverse("experiment_purge", kwargs=kwargs)).status_code == 404


def test_a_duplicate_experiment_name_is_an_error_message(alice_client, project):
    response = alice_client.post(
        reverse("experiment_new", kwargs={"slug": project.slug}),
        {"name": "Default"},
        follow=True,
    )
    assert "already exists" in response.content.decode()
    assert project.experiments.count() == 1


def test_bob_cannot_write_experiments(bob_client, project, default_experiment):
    response = bob_client.post(
        reverse("experiment_new", kwargs={"slug": project.slug}), {"name": "sweep"}
    )
    assert response.status_code == 403
    assert b"Not allowed" in response.content
    assert not project.experiments.filter(name="sweep").exists()


def test_charlie_cannot_write_experiments(charlie_client, project, default_experiment):
    response = charlie_client.post(
        reverse("experiment_new", kwargs={"slug": project.slug}), {"name": "sweep"}
    )
    assert response.status_code == 404


def test_run_overview_shows_params_and_latest_min_max(alice_client, project, runs):
    good = runs["good"]
    url = reverse("run", kwargs={"slug": project.slug, "run_id": good.run_id})
    response = alice_client.get(url)
    body = response.content.decode()
    assert good.run_id in body
    assert "lr" in body and "0.01" in body
    metrics = {m.key: m for m in response.context["metrics"]}
    assert (metrics["accuracy"].latest_value, metrics["accuracy"].min) == (1.0, 0.02)
    assert metrics["accuracy"].count == 50
    assert "child-run" in body
    assert reverse("metric", kwargs={"slug": project.slug, "run_id": good.run_id, "key": "loss"})


def test_overview_says_updating_while_a_summary_is_stale(alice_client, project, runs):
    LatestMetric.objects.filter(run=runs["good"], key="loss").update(seq=2)
    url = reverse("run", kwargs={"slug": project.slug, "run_id": runs["good"].run_id})
    assert "updating…" in alice_client.get(url).content.decode()


def test_run_overview_costs_a_fixed_number_of_queries(
    alice_client, project, runs, django_assert_max_num_queries
):
    url = reverse("run", kwargs={"slug": project.slug, "run_id": runs["good"].run_id})
    with django_assert_max_num_queries(14):
        alice_client.get(url)


def test_alice_edits_the_description_as_a_note_tag(alice_client, project, runs):
    good = runs["good"]
    url = reverse("run_description", kwargs={"slug": project.slug, "run_id": good.run_id})
    alice_client.post(url, {"description": "Best so far"})
    assert RunTag.objects.get(run=good, key="mlflow.note.content").value == "Best so far"


def test_bob_cannot_edit_the_description(bob_client, project, runs):
    good = runs["good"]
    url = reverse("run_description", kwargs={"slug": project.slug, "run_id": good.run_id})
    assert bob_client.post(url, {"description": "mine"}).status_code == 403
    assert not RunTag.objects.filter(run=good, key="mlflow.note.content").exists()


def test_metrics_tab_filter_keeps_exactly_the_matching_charts(alice_client, project, runs):
    url = reverse("run_metrics", kwargs={"slug": project.slug, "run_id": runs["good"].run_id})
    response = alice_client.get(url, {"q": "metric_step"})
    assert response.context["keys"] == ["metric_step", "metric_step_3", "metric_step_4"]
    assert "system/cpu_utilization_percentage" not in response.context["all_keys"]
    response = alice_client.get(url, {"q": "^acc"})
    assert response.context["keys"] == ["accuracy"]
    response = alice_client.get(url, {"q": "STEP_3"})
    assert response.context["keys"] == ["metric_step_3"]
    # Matched as text, never as a regular expression (tests/security/test_redos.py).
    response = alice_client.get(url, {"q": "step_[34]$"})
    assert response.context["keys"] == []


def test_system_metrics_have_their_own_tab(alice_client, project, runs):
    url = reverse("run_system", kwargs={"slug": project.slug, "run_id": runs["good"].run_id})
    assert alice_client.get(url).context["keys"] == ["system/cpu_utilization_percentage"]


def test_metric_page_shows_latest_min_max_and_count(alice_client, project, runs):
    kwargs = {"slug": project.slug, "run_id": runs["good"].run_id, "key": "accuracy"}
    response = alice_client.get(reverse("metric", kwargs=kwargs))
    summary = response.context["summary"]
    assert (summary.latest_value, summary.min, summary.max, summary.count) == (1.0, 0.02, 1.0, 50)
    assert [r.name for r in response.context["other_runs"]] == ["live-run", "bad-run"]


def test_a_metric_logged_once_says_so(alice_client, project, runs):
    kwargs = {"slug": project.slug, "run_id": runs["good"].run_id, "key": "once"}
    assert "logged once" in alice_client.get(reverse("metric", kwargs=kwargs)).content.decode()


def test_an_unknown_metric_key_is_not_found(alice_client, project, runs):
    kwargs = {"slug": project.slug, "run_id": runs["good"].run_id, "key": "nope"}
    assert alice_client.get(reverse("metric", kwargs=kwargs)).status_code == 404


def test_system_metric_keys_with_slashes_have_a_page(alice_client, project, runs):
    key = "system/cpu_utilization_percentage"
    kwargs = {"slug": project.slug, "run_id": runs["good"].run_id, "key": key}
    assert alice_client.get(reverse("metric", kwargs=kwargs)).status_code == 200


def test_metric_csv_streams_every_point(alice_client, project, runs):
    kwargs = {"slug": project.slug, "run_id": runs["good"].run_id, "key": "loss"}
    response = alice_client.get(reverse("metric_csv", kwargs=kwargs))
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "step,timestamp,value"
    assert len(lines) == 51


def test_compare_shows_params_side_by_side(alice_client, project, runs):
    good, bad = runs["good"], runs["bad"]
    url = reverse("compare", kwargs={"slug": project.slug})
    response = alice_client.get(url, {"runs": f"{good.run_id},{bad.run_id}"})
    rows = {row["key"]: row for row in response.context["param_rows"]}
    assert rows["lr"]["cells"] == ["0.01", "0.1"] and rows["lr"]["differs"]
    assert not rows["optim"]["differs"]
    only = alice_client.get(url, {"runs": f"{good.run_id},{bad.run_id}", "diff": "1"})
    assert [row["key"] for row in only.context["param_rows"]] == ["lr"]
    data = response.context["compare_data"]
    # The params that differ are the parallel axes, the first metric the last one.
    assert data["parallel"] == {"params": ["lr"], "metric": "accuracy"}
    assert [
        (r["params"]["lr"], r["params"]["optim"], r["metrics"]["accuracy"]) for r in data["runs"]
    ] == [
        (0.01, "adam", 1.0),
        (0.1, "adam", 0.5),
    ]


def test_compare_ignores_runs_of_other_projects(
    alice_client, project, runs, other_project, charlie
):
    foreign = make_run(other_project.experiments.get(), name="foreign", user=charlie)
    url = reverse("compare", kwargs={"slug": project.slug})
    response = alice_client.get(url, {"runs": f"{runs['good'].run_id},{foreign.run_id}"})
    assert [r.name for r in response.context["runs"]] == ["good-run"]
    assert response.context["missing"] == [foreign.run_id]
    assert "foreign" not in response.content.decode().replace(foreign.run_id, "")


def test_unknown_pages_use_our_404_template(alice_client):
    response = alice_client.get("/p/nope/")
    assert response.status_code == 404
    assert b"your projects" in response.content


def test_running_runs_make_the_table_poll_and_finished_ones_do_not(alice_client, project, runs):
    url = reverse("project", kwargs={"slug": project.slug})
    body = alice_client.get(url).content.decode()
    assert 'data-live-url="' in body and 'id="live-refresh"' in body
    body = alice_client.get(url, {"status": "FINISHED"}).content.decode()
    assert "data-live-url" not in body


@pytest.mark.parametrize("page", ["run_metrics", "metric", "compare"])
def test_chart_pages_cost_a_fixed_number_of_queries(
    alice_client, project, default_experiment, alice, page, django_assert_max_num_queries
):
    def url(runs):
        if page == "compare":
            ids = ",".join(r.run_id for r in runs.values())
            return reverse("compare", kwargs={"slug": project.slug}) + f"?runs={ids}"
        kwargs = {"slug": project.slug, "run_id": runs["good"].run_id}
        if page == "metric":
            kwargs["key"] = "loss"
        return reverse(page, kwargs=kwargs)

    small = seed_experiment(default_experiment, alice)
    with django_assert_max_num_queries(12) as counted:
        assert alice_client.get(url(small)).status_code == 200
    for _ in range(3):
        seed_experiment(default_experiment, alice)
    with django_assert_max_num_queries(len(counted.captured_queries)):
        alice_client.get(url(small))


def test_sorting_through_htmx_keeps_the_filter_forms_sort_in_step(alice_client, project, runs):
    url = reverse("project", kwargs={"slug": project.slug})
    response = alice_client.get(
        url, {"sort": "name"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="runs"
    )
    body = response.content.decode()
    assert 'id="sort-input" value="name" hx-swap-oob="true"' in body


def test_the_500_page_renders_without_the_request(rf):
    from frontend.views.errors import server_error

    response = server_error(rf.get("/"))
    assert response.status_code == 500
    assert b"Something went wrong" in response.content


@pytest.mark.parametrize("more_children", [0, 9])
def test_expanding_child_rows_reads_only_the_children_and_the_columns(
    alice_client, project, runs, alice, django_assert_max_num_queries, more_children
):
    parent = runs["good"]
    for i in range(more_children):
        child = make_run(parent.experiment, name=f"trial-{i}", user=alice, parent=parent)
        add_metric(child, "loss", [0.3, 0.2])
    url = reverse("run_children", kwargs={"slug": project.slug, "run_id": parent.run_id})
    # Session, user, run with its access check, the column keys, the children and their cells;
    # not the parent's whole table page, and the same for one child as for ten.
    with django_assert_max_num_queries(11):
        response = alice_client.get(url)
    assert response.status_code == 200
    assert response.content.count(f"child-of-{parent.run_id}".encode()) == 1 + more_children
