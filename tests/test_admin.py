"""Django admin: every page opens for a superuser, nobody else gets in, big tables stay cheap,
and the actions with rules go through the services (validated and audited)."""

import math
from datetime import UTC, datetime

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db.models import Model
from django.test import RequestFactory
from django.urls import reverse

from accounts.audit import audit_record
from accounts.models import ApiToken, AuditAction, AuditEvent, Membership, Project, Role, User
from registry.models import ModelVersion, RegisteredModel
from tests.factories import ExperimentFactory, RunFactory, make_token
from tracking.models import (
    DEFAULT_EXPERIMENT_NAME,
    Experiment,
    ExperimentTag,
    LatestMetric,
    Lifecycle,
    Metric,
    MetricRollup,
    MetricSummary,
    Param,
    Run,
    RunStatus,
    RunTag,
)

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)


def url(model: type[Model], view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def axes_fields() -> dict:
    return {
        "user_agent": "pytest",
        "ip_address": "127.0.0.1",
        "http_accept": "*/*",
        "path_info": "/",
    }


@pytest.fixture
def experiment(project):
    return ExperimentFactory(project=project, name="sweep")


@pytest.fixture
def run(experiment, alice):
    return RunFactory(experiment=experiment, user=alice, name="first")


@pytest.fixture
def rows(project, experiment, run, alice, bob) -> dict[type[Model], Model]:
    """One row of every model the admin shows."""
    token, _raw = make_token(user=alice, project=project)
    registered = RegisteredModel.objects.create(project=project, name="clf", created_by=alice)
    return {
        User: alice,
        Group: Group.objects.create(name="operators"),
        Project: project,
        Membership: project.memberships.get(user=bob),
        ApiToken: token,
        AuditEvent: audit_record(user=alice, action=AuditAction.LOGIN, project=project),
        Experiment: experiment,
        ExperimentTag: ExperimentTag.objects.create(experiment=experiment, key="team", value="rl"),
        Run: run,
        Param: Param.objects.create(run=run, key="lr", value="0.01"),
        RunTag: RunTag.objects.create(run=run, key="stage", value="dev"),
        LatestMetric: LatestMetric.objects.create(
            run=run, key="loss", step=1, timestamp=1, value=0.5
        ),
        MetricSummary: MetricSummary.objects.create(run=run, key="loss", count=1, min=0.5),
        MetricRollup: MetricRollup.objects.create(
            run=run,
            key="loss",
            width=10,
            block=0,
            count=1,
            min=0.5,
            max=0.5,
            first_step=1,
            last_step=1,
            last_timestamp=1,
            last_value=0.5,
            seq=1,
        ),
        AccessAttempt: AccessAttempt.objects.create(
            **axes_fields(), username="x", get_data="", post_data="", failures_since_start=1
        ),
        AccessLog: AccessLog.objects.create(**axes_fields(), username="alice"),
        AccessFailureLog: AccessFailureLog.objects.create(**axes_fields(), username="x"),
        RegisteredModel: registered,
        ModelVersion: ModelVersion.objects.create(
            registered_model=registered, version=1, source="s3://b/m", storage_location="s3://b/m"
        ),
    }


def superuser_request(admin_user):
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    return request


def test_every_registered_model_has_a_row_in_these_tests(rows):
    assert set(REGISTERED) == set(rows)


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_a_superuser_opens_the_list_add_and_change_pages(admin_client, admin_user, rows, model):
    model_admin = admin.site._registry[model]
    can_add = model_admin.has_add_permission(superuser_request(admin_user))

    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "add")).status_code == (200 if can_add else 403)
    assert admin_client.get(url(model, "change", rows[model].pk)).status_code == 200


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_anonymous_and_non_staff_users_are_sent_to_the_admin_login(client, alice, rows, model):
    pages = [url(model, "changelist"), url(model, "add"), url(model, "change", rows[model].pk)]
    login = reverse("admin:login")

    for page in pages:
        response = client.get(page)
        assert response.status_code == 302
        assert response["Location"].startswith(f"{login}?next=")
    client.force_login(alice)
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302
        assert response["Location"].startswith(f"{login}?next=")


# --- Big tables -----------------------------------------------------------------------------


@pytest.fixture
def long_run(run):
    """A run with 3,000 points of one key plus a few of another."""
    points = [
        Metric(
            run=run, key="loss", step=step, timestamp=1_700_000_000_000 + step, value=1 / (step + 1)
        )
        for step in range(3000)
    ]
    points += [Metric(run=run, key="acc", step=s, timestamp=1, value=0.9) for s in range(5)]
    Metric.objects.bulk_create(points)
    LatestMetric.objects.create(run=run, key="loss", step=2999, timestamp=1, value=0.1)
    LatestMetric.objects.create(run=run, key="acc", step=4, timestamp=1, value=0.9)
    RunFactory(experiment=run.experiment)  # another run, whose points must not show
    return run


def assert_no_unbounded_count(queries) -> None:
    for query in queries:
        sql = query["sql"].upper()
        if "COUNT(" in sql:
            assert "LIMIT" in sql, f"unbounded count: {query['sql']}"


def points_page(run: Run) -> str:
    return reverse("admin:tracking_run_points", args=[run.pk])


def shown(response) -> list[tuple[str, int]]:
    return [(point.key, point.step) for point in response.context["points"]]


@pytest.mark.parametrize("query", ["", "?key=loss", "?p=5", "?key=loss&p=30"])
def test_a_runs_metric_points_page_runs_few_queries_and_never_counts_them(
    admin_client, long_run, django_assert_max_num_queries, query
):
    with django_assert_max_num_queries(6) as captured:
        response = admin_client.get(points_page(long_run) + query)

    assert response.status_code == 200
    assert len(response.context["points"]) == 100
    assert_no_unbounded_count(captured.captured_queries)
    assert not [q for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]


def test_a_runs_metric_points_are_listed_100_a_page_in_key_and_step_order(admin_client, long_run):
    first = admin_client.get(points_page(long_run))
    second = admin_client.get(points_page(long_run) + first.context["next_url"])

    assert first.context["title"] == "Metric points of first"
    assert shown(first) == [("acc", s) for s in range(5)] + [("loss", s) for s in range(95)]
    assert first.context["previous_url"] is None
    assert second.context["page"] == 2
    assert shown(second) == [("loss", s) for s in range(95, 195)]
    assert second.context["previous_url"] == "?p=1"


def test_the_last_page_of_points_has_no_next_link(admin_client, long_run):
    # 3,005 points: 5 of acc, then 3,000 of loss.
    before_last = admin_client.get(points_page(long_run) + "?p=30")
    last = admin_client.get(points_page(long_run) + "?p=31")
    beyond = admin_client.get(points_page(long_run) + "?p=32")

    assert before_last.context["next_url"] == "?p=31"
    assert shown(last) == [("loss", s) for s in range(2995, 3000)]
    assert last.context["next_url"] is None
    assert 'rel="next"' not in last.content.decode()
    assert shown(beyond) == []
    assert beyond.context["next_url"] is None


def test_the_points_page_filters_one_key_and_offers_the_runs_keys(admin_client, long_run):
    response = admin_client.get(points_page(long_run) + "?key=acc")

    assert shown(response) == [("acc", s) for s in range(5)]
    assert response.context["next_url"] is None
    choices = response.context["key_choices"]
    assert [c["display"] for c in choices] == ["All", "acc", "loss"]
    assert [c["display"] for c in choices if c["selected"]] == ["acc"]
    assert 'href="?key=loss"' in response.content.decode()


def test_the_key_filter_is_kept_from_page_to_page(admin_client, long_run):
    first = admin_client.get(points_page(long_run) + "?key=loss")
    second = admin_client.get(points_page(long_run) + first.context["next_url"])

    assert first.context["next_url"] == "?key=loss&p=2"
    assert shown(second) == [("loss", s) for s in range(100, 200)]
    assert second.context["previous_url"] == "?key=loss&p=1"


def test_another_runs_points_never_show_on_a_runs_page(admin_client, long_run):
    other = RunFactory(experiment=long_run.experiment)
    Metric.objects.create(run=other, key="loss", step=0, timestamp=0, value=-1.0)
    LatestMetric.objects.create(run=other, key="other", step=0, timestamp=0, value=-1.0)

    mine = admin_client.get(points_page(long_run) + "?key=loss")
    theirs = admin_client.get(points_page(other))

    assert -1.0 not in [point.value for point in mine.context["points"]]
    assert shown(theirs) == [("loss", 0)]
    assert [c["display"] for c in theirs.context["key_choices"]] == ["All", "other"]


@pytest.mark.parametrize("query", ["?key=nope", "?key=" + "x" * 300, "?key=a%00b"])
def test_a_key_the_run_does_not_have_lists_no_points(admin_client, long_run, query):
    response = admin_client.get(points_page(long_run) + query)

    assert response.status_code == 200
    assert shown(response) == []
    assert "No metric points." in response.content.decode()


@pytest.mark.parametrize("page", ["abc", "0", "-3", "1.5", "9" * 30, ""])
def test_a_page_that_is_no_page_number_is_the_first_page(admin_client, long_run, page):
    response = admin_client.get(points_page(long_run) + f"?p={page}")

    assert response.status_code == 200
    assert response.context["page"] == 1
    assert shown(response)[0] == ("acc", 0)


def test_nan_points_show_as_nan(admin_client, run):
    Metric.objects.create(run=run, key="loss", step=0, timestamp=0, value=0, is_nan=True)

    response = admin_client.get(points_page(run))

    (point,) = response.context["points"]
    assert math.isnan(point.value)
    assert point.logged_at == datetime(1970, 1, 1, tzinfo=UTC)


def test_anonymous_and_non_staff_users_are_sent_to_the_admin_login_from_a_points_page(
    client, alice, run
):
    login = reverse("admin:login")

    anonymous = client.get(points_page(run))
    client.force_login(alice)
    member = client.get(points_page(run))

    for response in (anonymous, member):
        assert response.status_code == 302
        assert response["Location"].startswith(f"{login}?next=")


def test_staff_without_the_view_permission_on_runs_cannot_see_a_runs_points(client, alice, run):
    alice.is_staff = True
    alice.save()
    client.force_login(alice)

    assert client.get(points_page(run)).status_code == 403


def test_staff_with_the_view_permission_on_runs_sees_a_runs_points(client, alice, long_run):
    alice.is_staff = True
    alice.save()
    alice.user_permissions.add(Permission.objects.get(codename="view_run"))
    client.force_login(alice)

    assert client.get(points_page(long_run)).status_code == 200


@pytest.mark.parametrize("run_pk", ["999999", "abc", "1/2"])
def test_the_points_page_of_an_unknown_run_is_not_found(admin_client, run, run_pk):
    page = reverse("admin:tracking_run_points", args=[run_pk])

    assert admin_client.get(page).status_code == 404


def test_the_run_page_links_to_its_metric_points(admin_client, run):
    response = admin_client.get(url(Run, "change", run.pk))

    assert f'href="{points_page(run)}"' in response.content.decode()


def test_the_points_page_leads_back_to_the_run(admin_client, run):
    response = admin_client.get(points_page(run))

    assert f'href="{url(Run, "change", run.pk)}"' in response.content.decode()


def test_the_run_list_runs_a_fixed_number_of_queries(
    admin_client, experiment, alice, django_assert_max_num_queries
):
    RunFactory.create_batch(30, experiment=experiment, user=alice)

    with django_assert_max_num_queries(9) as captured:
        response = admin_client.get(url(Run, "changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 30
    assert_no_unbounded_count(captured.captured_queries)


def test_the_run_page_lists_a_limited_number_of_params(admin_client, run):
    Param.objects.bulk_create([Param(run=run, key=f"p{i:03}", value="1") for i in range(150)])

    response = admin_client.get(url(Run, "change", run.pk))

    assert response.status_code == 200
    assert "p099" in response.content.decode()
    assert "p100" not in response.content.decode()


# --- Actions --------------------------------------------------------------------------------


def act(client, model, action: str, *objects):
    return client.post(
        url(model, "changelist"),
        {"action": action, "_selected_action": [obj.pk for obj in objects]},
        follow=True,
    )


def audit_trail(action: str) -> list[tuple[str, str]]:
    return list(AuditEvent.objects.filter(action=action).values_list("username", "target_id"))


def test_deleting_and_restoring_experiments_changes_lifecycle_and_is_audited(
    admin_client, experiment, run
):
    act(admin_client, Experiment, "delete_selected_experiments", experiment)

    experiment.refresh_from_db()
    run.refresh_from_db()
    assert experiment.lifecycle == Lifecycle.DELETED
    assert run.lifecycle == Lifecycle.DELETED
    assert audit_trail(AuditAction.EXPERIMENT_DELETED) == [("admin", str(experiment.pk))]

    act(admin_client, Experiment, "restore_selected_experiments", experiment)

    experiment.refresh_from_db()
    run.refresh_from_db()
    assert experiment.lifecycle == Lifecycle.ACTIVE
    assert run.lifecycle == Lifecycle.ACTIVE
    assert audit_trail(AuditAction.EXPERIMENT_RESTORED) == [("admin", str(experiment.pk))]


def test_the_default_experiment_cannot_be_deleted(admin_client, default_experiment):
    response = act(admin_client, Experiment, "delete_selected_experiments", default_experiment)

    default_experiment.refresh_from_db()
    assert default_experiment.lifecycle == Lifecycle.ACTIVE
    assert "The Default experiment cannot be deleted." in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.EXPERIMENT_DELETED).exists()


def test_deleting_and_restoring_runs_changes_lifecycle_and_is_audited(admin_client, run):
    act(admin_client, Run, "delete_selected_runs", run)

    run.refresh_from_db()
    assert run.lifecycle == Lifecycle.DELETED
    assert run.deleted_time is not None
    assert audit_trail(AuditAction.RUN_DELETED) == [("admin", run.run_id)]

    act(admin_client, Run, "restore_selected_runs", run)

    run.refresh_from_db()
    assert run.lifecycle == Lifecycle.ACTIVE
    assert run.deleted_time is None
    assert audit_trail(AuditAction.RUN_RESTORED) == [("admin", run.run_id)]


def test_the_builtin_hard_delete_is_not_offered_for_experiments_and_runs(admin_client, run):
    response = act(admin_client, Run, "delete_selected", run)

    assert Run.objects.filter(pk=run.pk).exists()
    assert "No action selected." in response.content.decode()
    assert admin_client.get(url(Run, "delete", run.pk)).status_code == 403
    assert admin_client.get(url(Experiment, "delete", run.experiment_id)).status_code == 403


def test_revoking_tokens_sets_revoked_at_and_is_audited(admin_client, alice, project):
    token, _raw = make_token(user=alice, project=project)

    act(admin_client, ApiToken, "revoke_selected", token)

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert audit_trail(AuditAction.TOKEN_REVOKED) == [("admin", str(token.pk))]


def test_a_tokens_digest_is_never_shown_nor_editable(admin_client, alice, project):
    token, raw = make_token(user=alice, project=project)

    page = admin_client.get(url(ApiToken, "change", token.pk)).content.decode()
    admin_client.post(
        url(ApiToken, "change", token.pk),
        {"name": "renamed", "digest": "0" * 64, "expires_at_0": "", "expires_at_1": ""},
    )

    assert token.digest not in page
    assert raw not in page
    token.refresh_from_db()
    assert token.name == "renamed"
    assert token.digest != "0" * 64


def test_the_audit_trail_cannot_be_changed_in_the_admin(admin_client, alice, project):
    event = audit_record(user=alice, action=AuditAction.LOGIN, project=project)

    admin_client.post(url(AuditEvent, "change", event.pk), {"username": "mallory"})

    event.refresh_from_db()
    assert event.username == "alice"


# --- Forms that go through services ---------------------------------------------------------


def test_a_project_added_in_the_admin_has_its_owner_as_manager_and_a_default_experiment(
    admin_client, alice
):
    response = admin_client.post(
        url(Project, "add"),
        {"name": "Vision", "slug": "vision", "description": "", "owner": alice.pk},
    )

    project = Project.objects.get(slug="vision")
    assert response.status_code == 302
    assert list(project.memberships.values_list("user__username", "role")) == [
        ("alice", Role.MANAGER)
    ]
    assert list(project.experiments.values_list("name", flat=True)) == [DEFAULT_EXPERIMENT_NAME]


def test_a_taken_or_invalid_project_slug_is_a_form_error(admin_client, alice, project):
    for slug in ["alpha", "Not a slug"]:
        response = admin_client.post(
            url(Project, "add"), {"name": "X", "slug": slug, "description": "", "owner": alice.pk}
        )
        assert response.status_code == 200
        assert response.context["adminform"].form.errors["slug"]
    assert Project.objects.count() == 1


def test_an_experiment_added_in_the_admin_gets_its_artifact_location(admin_client, project):
    response = admin_client.post(
        url(Experiment, "add"),
        {
            "project": project.pk,
            "name": "new",
            "description": "",
            "tags-TOTAL_FORMS": "1",
            "tags-INITIAL_FORMS": "0",
            "tags-0-key": "team",
            "tags-0-value": "rl",
        },
    )

    experiment = Experiment.objects.get(project=project, name="new")
    assert response.status_code == 302
    assert experiment.artifact_location == f"mlflow-artifacts:/{experiment.pk}"
    assert list(experiment.tags.values_list("key", "value")) == [("team", "rl")]


def test_renaming_an_experiment_to_a_taken_name_is_a_form_error(admin_client, experiment):
    ExperimentFactory(project=experiment.project, name="taken")

    response = admin_client.post(
        url(Experiment, "change", experiment.pk),
        {"name": "taken", "description": "", "tags-TOTAL_FORMS": "0", "tags-INITIAL_FORMS": "0"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"]
    experiment.refresh_from_db()
    assert experiment.name == "sweep"


def test_a_tag_key_that_the_api_would_refuse_is_a_form_error(admin_client, experiment):
    response = admin_client.post(
        url(Experiment, "change", experiment.pk),
        {
            "name": "sweep",
            "description": "",
            "tags-TOTAL_FORMS": "1",
            "tags-INITIAL_FORMS": "0",
            "tags-0-key": "../escape",
            "tags-0-value": "x",
        },
    )

    assert response.status_code == 200
    assert not experiment.tags.exists()


def run_form(run: Run, **fields) -> dict:
    return {
        "name": run.name,
        "status": run.status,
        "end_time": "",
        "params-TOTAL_FORMS": "0",
        "params-INITIAL_FORMS": "0",
        "tags-TOTAL_FORMS": "0",
        "tags-INITIAL_FORMS": "0",
    } | fields


def test_changing_a_run_goes_through_run_update(admin_client, run):
    response = admin_client.post(
        url(Run, "change", run.pk), run_form(run, name="renamed", status=RunStatus.KILLED)
    )

    assert response.status_code == 302
    run.refresh_from_db()
    assert (run.name, run.status) == ("renamed", RunStatus.KILLED)
    assert run.tags.get(key="mlflow.runName").value == "renamed"


def test_a_deleted_run_must_be_restored_before_it_is_changed(admin_client, run):
    Run.objects.filter(pk=run.pk).update(lifecycle=Lifecycle.DELETED)

    response = admin_client.post(url(Run, "change", run.pk), run_form(run, name="renamed"))

    assert response.status_code == 200
    run.refresh_from_db()
    assert run.name == "first"


# --- Members --------------------------------------------------------------------------------


def members_form(project: Project, rows: list[tuple[Membership | None, User, str, bool]]) -> dict:
    """The project change form with its membership inline: (membership, user, role, delete)."""
    data = {
        "name": project.name,
        "description": project.description,
        "memberships-TOTAL_FORMS": str(len(rows)),
        "memberships-INITIAL_FORMS": str(sum(1 for m, *_ in rows if m is not None)),
    }
    for i, (membership, user, role, delete) in enumerate(rows):
        data |= {
            f"memberships-{i}-id": membership.pk if membership else "",
            f"memberships-{i}-project": project.pk,
            f"memberships-{i}-user": user.pk,
            f"memberships-{i}-role": role,
        }
        if delete:
            data[f"memberships-{i}-DELETE"] = "on"
    return data


def roles(project: Project) -> dict[str, str]:
    return dict(project.memberships.values_list("user__username", "role"))


def test_the_manager_role_can_be_handed_over_on_the_project_page(admin_client, project, alice, bob):
    alices, bobs = project.memberships.get(user=alice), project.memberships.get(user=bob)

    response = admin_client.post(
        url(Project, "change", project.pk),
        members_form(project, [(alices, alice, "viewer", False), (bobs, bob, "manager", False)]),
    )

    assert response.status_code == 302
    assert roles(project) == {"alice": "viewer", "bob": "manager"}
    # Newest first: bob was promoted before alice was demoted, so there was always a manager.
    assert audit_trail(AuditAction.MEMBER_ROLE_CHANGED) == [
        ("admin", str(alice.pk)),
        ("admin", str(bob.pk)),
    ]


def test_the_project_page_cannot_remove_the_last_manager(admin_client, project, alice, bob):
    alices, bobs = project.memberships.get(user=alice), project.memberships.get(user=bob)

    for rows in (
        [(alices, alice, "manager", True), (bobs, bob, "viewer", False)],
        [(alices, alice, "editor", False), (bobs, bob, "viewer", False)],
    ):
        response = admin_client.post(
            url(Project, "change", project.pk), members_form(project, rows)
        )
        assert response.status_code == 200
        assert "at least one manager" in response.content.decode()

    assert roles(project) == {"alice": "manager", "bob": "viewer"}


def test_members_added_and_removed_on_the_project_page_are_audited(
    admin_client, project, alice, bob, charlie
):
    alices, bobs = project.memberships.get(user=alice), project.memberships.get(user=bob)

    admin_client.post(
        url(Project, "change", project.pk),
        members_form(
            project,
            [
                (alices, alice, "manager", False),
                (bobs, bob, "viewer", True),
                (None, charlie, "editor", False),
            ],
        ),
    )

    assert roles(project) == {"alice": "manager", "charlie": "editor"}
    assert audit_trail(AuditAction.MEMBER_ADDED) == [("admin", str(charlie.pk))]
    assert audit_trail(AuditAction.MEMBER_REMOVED) == [("admin", str(bob.pk))]


def test_a_membership_added_in_the_admin_is_audited(admin_client, other_project, bob):
    response = admin_client.post(
        url(Membership, "add"), {"project": other_project.pk, "user": bob.pk, "role": "editor"}
    )

    assert response.status_code == 302
    assert roles(other_project) == {"charlie": "manager", "bob": "editor"}
    assert audit_trail(AuditAction.MEMBER_ADDED) == [("admin", str(bob.pk))]


def test_the_last_manager_can_be_neither_demoted_nor_deleted(admin_client, project, alice):
    alices = project.memberships.get(user=alice)

    demote = admin_client.post(url(Membership, "change", alices.pk), {"role": "viewer"})
    delete = admin_client.get(url(Membership, "delete", alices.pk))

    assert demote.status_code == 200
    assert demote.context["adminform"].form.errors["role"]
    assert delete.status_code == 403
    assert roles(project)["alice"] == "manager"


def test_projects_are_not_hard_deleted_from_the_admin(admin_client, project):
    assert admin_client.get(url(Project, "delete", project.pk)).status_code == 403
