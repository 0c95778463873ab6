"""A project's experiments through the native API: list with filters, create, edit, delete."""

import pytest
from django.utils import timezone

from accounts.access import Actor
from tracking.models import Experiment, ExperimentTag
from tracking.services.experiments import experiment_create

from .helpers import API, error_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def experiments(alice, project):
    actor = Actor(user=alice)
    made = [
        experiment_create(actor=actor, project=project, name="vision-base", tags={"team": "cv"}),
        experiment_create(actor=actor, project=project, name="vision-large", tags={"team": "cv"}),
        experiment_create(actor=actor, project=project, name="rl-agent", tags={"team": "rl"}),
    ]
    return {e.name: e for e in made}


def url(project, suffix=""):
    return f"{API}/projects/{project.slug}/experiments/{suffix}"


def names(response):
    assert response.status_code == 200, response.content
    return [e["name"] for e in response.json()["results"]]


def test_alice_lists_experiments_by_name(alice_api, project, experiments):
    assert names(alice_api.get(url(project))) == [
        "Default",
        "rl-agent",
        "vision-base",
        "vision-large",
    ]


def test_charlie_gets_404_for_the_project(charlie_api, project, experiments):
    assert charlie_api.get(url(project)).status_code == 404
    pk = experiments["rl-agent"].pk
    assert charlie_api.get(url(project, f"{pk}/")).status_code == 404


def test_an_experiment_of_another_project_is_not_found_here(alice_api, project, other_project):
    theirs = other_project.experiments.get()
    assert alice_api.get(url(project, f"{theirs.pk}/")).status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"name": "rl-agent"}, ["rl-agent"]),
        ({"name_contains": "VISION"}, ["vision-base", "vision-large"]),
        ({"tag_key": "team", "tag_value": "cv"}, ["vision-base", "vision-large"]),
        ({"tag_key": "team"}, ["rl-agent", "vision-base", "vision-large"]),
        ({"ordering": "-name", "name_contains": "vision"}, ["vision-large", "vision-base"]),
        ({"lifecycle": "deleted"}, []),
    ],
)
def test_experiment_filters(alice_api, project, experiments, query, expected):
    assert names(alice_api.get(url(project), query)) == expected


def test_created_range_filters(alice_api, project, experiments):
    Experiment.objects.filter(name="rl-agent").update(
        created_at=timezone.now() - timezone.timedelta(days=10)
    )
    cutoff = (timezone.now() - timezone.timedelta(days=5)).isoformat()
    assert names(alice_api.get(url(project), {"created_before": cutoff})) == ["rl-agent"]
    assert "rl-agent" not in names(alice_api.get(url(project), {"created_after": cutoff}))


@pytest.mark.parametrize(
    "query",
    [{"created_after": "last tuesday"}, {"lifecycle": "gone"}, {"ordering": "secret"}],
)
def test_bad_filters_get_400_naming_the_field(alice_api, project, query):
    response = alice_api.get(url(project), query)
    assert response.status_code == 400
    assert set(query) <= set(error_fields(response))


def test_experiment_pages(alice_api, project, experiments):
    first = alice_api.get(url(project), {"page_size": 3})
    second = alice_api.get(first.json()["next"])
    assert names(first) + names(second) == ["Default", "rl-agent", "vision-base", "vision-large"]
    assert second.json()["next"] is None


def test_experiment_list_query_count_is_pinned(
    alice, alice_api, project, django_assert_max_num_queries
):
    for i in range(20):
        experiment_create(actor=Actor(user=alice), project=project, name=f"e{i}", tags={"a": "b"})
    with django_assert_max_num_queries(7):
        assert len(names(alice_api.get(url(project)))) == 21


def test_alice_creates_an_experiment(alice_api, project):
    response = alice_api.post(
        url(project), {"name": "new", "description": "d", "tags": {"k": "v"}}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["description"], body["tags"]) == ("new", "d", {"k": "v"})
    assert body["project"] == "alpha"


def test_a_taken_name_gets_409_and_a_blank_one_400(alice_api, project, experiments):
    taken = alice_api.post(url(project), {"name": "rl-agent"}, format="json")
    assert taken.status_code == 409
    assert "name" in error_fields(taken)
    blank = alice_api.post(url(project), {"name": ""}, format="json")
    assert blank.status_code == 400
    assert "name" in error_fields(blank)


def test_bob_cannot_create_or_change_experiments(bob_api, project, experiments):
    assert bob_api.post(url(project), {"name": "x"}, format="json").status_code == 403
    pk = experiments["rl-agent"].pk
    assert bob_api.patch(url(project, f"{pk}/"), {"name": "y"}, format="json").status_code == 403
    assert bob_api.delete(url(project, f"{pk}/")).status_code == 403
    assert bob_api.get(url(project, f"{pk}/")).status_code == 200


def test_alice_renames_describes_and_tags(alice_api, project, experiments):
    pk = experiments["rl-agent"].pk
    response = alice_api.patch(
        url(project, f"{pk}/"),
        {"name": "rl-agent-2", "description": "PPO", "tags": {"team": "rl2", "new": "1"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["description"]) == ("rl-agent-2", "PPO")
    assert body["tags"] == {"team": "rl2", "new": "1"}


def test_a_bad_tag_key_changes_nothing(alice_api, project, experiments):
    pk = experiments["rl-agent"].pk
    response = alice_api.patch(
        url(project, f"{pk}/"), {"name": "renamed", "tags": {"../x": "1"}}, format="json"
    )
    assert response.status_code == 400
    assert Experiment.objects.get(pk=pk).name == "rl-agent"
    assert not ExperimentTag.objects.filter(key="../x").exists()


def test_delete_and_restore(alice_api, project, experiments):
    pk = experiments["rl-agent"].pk
    assert alice_api.delete(url(project, f"{pk}/")).status_code == 204
    assert "rl-agent" not in names(alice_api.get(url(project)))
    assert names(alice_api.get(url(project), {"lifecycle": "deleted"})) == ["rl-agent"]
    restored = alice_api.post(url(project, f"{pk}/restore/"))
    assert restored.status_code == 200
    assert restored.json()["lifecycle"] == "active"


def test_the_default_experiment_cannot_be_deleted(alice_api, project, default_experiment):
    response = alice_api.delete(url(project, f"{default_experiment.pk}/"))
    assert response.status_code == 400


def test_odd_time_zone_offsets_are_read_as_utc_or_refused(alice_api, project, experiments):
    far = alice_api.get(url(project), {"created_after": "2867-09-25T08:16:34.850-20:02"})
    assert names(far) == []
    before_year_one = alice_api.get(url(project), {"created_after": "0001-01-01T00:00:00+05:00"})
    assert before_year_one.status_code == 400
    assert "created_after" in error_fields(before_year_one)
