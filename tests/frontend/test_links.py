"""The MLflow client's printed links resolve to the project pages, through the access rule."""

import pytest
from django.urls import reverse

from tests.frontend.seed import make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(default_experiment, alice):
    return make_run(default_experiment, name="linked", user=alice)


def test_a_run_link_lands_on_the_runs_page(client, bob, run, default_experiment):
    client.force_login(bob)  # a viewer may follow it
    url = reverse("go_run", kwargs={"experiment_id": default_experiment.pk, "run_id": run.run_id})
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("run", kwargs={"slug": "alpha", "run_id": run.run_id})


def test_an_experiment_link_lands_on_the_experiments_page(client, alice, default_experiment):
    client.force_login(alice)
    response = client.get(reverse("go_experiment", kwargs={"experiment_id": default_experiment.pk}))
    assert response["Location"] == reverse(
        "experiment", kwargs={"slug": "alpha", "experiment_id": default_experiment.pk}
    )


def test_charlie_gets_404_for_alices_links(client, charlie, other_project, run, default_experiment):
    client.force_login(charlie)
    for url in (
        reverse("go_experiment", kwargs={"experiment_id": default_experiment.pk}),
        reverse("go_run", kwargs={"experiment_id": default_experiment.pk, "run_id": run.run_id}),
        reverse("go_run", kwargs={"experiment_id": 1, "run_id": "0" * 32}),
        reverse("go_experiment", kwargs={"experiment_id": 999_999}),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("go_experiment", kwargs={"experiment_id": 1})).status_code == 405


def test_a_visitor_is_asked_to_log_in_first(client, run, default_experiment):
    url = reverse("go_run", kwargs={"experiment_id": default_experiment.pk, "run_id": run.run_id})
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_following_a_link_costs_a_few_queries(
    client, alice, run, default_experiment, django_assert_max_num_queries
):
    client.force_login(alice)
    url = reverse("go_run", kwargs={"experiment_id": default_experiment.pk, "run_id": run.run_id})
    # Session, user, the run with its project, the membership.
    with django_assert_max_num_queries(5):
        assert client.get(url).status_code == 302
