"""ReDoS: the charts filter `?q=` is matched as text, never compiled as a regular expression.

A viewer's `?q=^(.|.)*!` on a run with a long key held a web worker until gunicorn killed it;
each extra character of the key doubled the time.
"""

import time

import pytest
from django.urls import reverse

from tests.frontend.seed import add_metric, make_run

pytestmark = pytest.mark.django_db

# 26 characters: the pattern below needed about 2**26 steps on it, several seconds.
LONG_KEY = "system/gpu_0_memory_usage_"
CATASTROPHIC = "^(.|.)*!"


@pytest.fixture
def run(default_experiment, alice):
    run = make_run(default_experiment, name="gpu", user=alice)
    add_metric(run, LONG_KEY, [1.0, 2.0])
    add_metric(run, "metric_step", [1.0])
    add_metric(run, "metric_step_3", [1.0])
    return run


def test_a_backtracking_pattern_answers_at_once_and_matches_nothing(client, bob, project, run):
    client.force_login(bob)  # a viewer is enough to send it
    url = reverse("run_system", kwargs={"slug": project.slug, "run_id": run.run_id})

    started = time.monotonic()
    response = client.get(url, {"q": CATASTROPHIC})
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed < 1.0
    assert response.context["keys"] == []


def test_regex_characters_are_plain_text_and_case_is_ignored(client, alice, project, run):
    client.force_login(alice)
    url = reverse("run_metrics", kwargs={"slug": project.slug, "run_id": run.run_id})

    assert client.get(url, {"q": "METRIC_STEP"}).context["keys"] == [
        "metric_step",
        "metric_step_3",
    ]
    assert client.get(url, {"q": "^metric"}).context["keys"] == ["metric_step", "metric_step_3"]
    assert client.get(url, {"q": "^step"}).context["keys"] == []
    # As a regular expression this kept both; as text it keeps neither.
    assert client.get(url, {"q": "metric_step.*"}).context["keys"] == []
    assert client.get(url, {"q": "step_[3]$"}).context["keys"] == []


def test_charlie_gets_404_for_the_filtered_charts(client, charlie, other_project, project, run):
    client.force_login(charlie)
    url = reverse("run_system", kwargs={"slug": project.slug, "run_id": run.run_id})
    assert client.get(url, {"q": CATASTROPHIC}).status_code == 404
