"""Descriptions and notes are markdown, rendered sanitised; editors change them with a form."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.frontend.seed import make_run
from tracking.models import RunTag

pytestmark = pytest.mark.django_db

HOSTILE = (
    "# Results\n\n**best** lr is `0.01`, see [the paper](https://example.org/p).\n\n"
    "<script>window.pwned = 1</script>\n\n[click](javascript:alert(1)) "
    '<img src=x onerror="window.pwned = 2">\n\n| lr | acc |\n|---|---|\n| 0.01 | 0.93 |\n'
)


def assert_safe_markdown(html: str) -> None:
    assert "<h1>Results</h1>" in html
    assert "<strong>best</strong>" in html and "<code>0.01</code>" in html
    assert '<a href="https://example.org/p" rel="noopener noreferrer nofollow">' in html
    assert "<td>0.93</td>" in html
    assert "<script>window.pwned" not in html
    assert 'href="javascript:' not in html
    assert re.search(r"<[a-z]+[^>]*\son[a-z]+=", html) is None  # no event handler attribute


def test_a_runs_description_is_rendered_markdown_without_script(client, alice, default_experiment):
    run = make_run(default_experiment, name="r", user=alice)
    RunTag.objects.create(run=run, key="mlflow.note.content", value=HOSTILE)
    client.force_login(alice)
    html = client.get(reverse("run", kwargs={"slug": "alpha", "run_id": run.run_id})).content
    assert_safe_markdown(html.decode())


def test_the_experiments_description_is_shown_on_its_page(client, bob, project, default_experiment):
    default_experiment.description = HOSTILE
    default_experiment.save()
    client.force_login(bob)
    for name in ("experiment", "experiment_charts"):
        url = reverse(name, kwargs={"slug": "alpha", "experiment_id": default_experiment.pk})
        html = client.get(url).content.decode()
        assert 'class="description markdown"' in html
        assert_safe_markdown(html)


def test_an_editor_saves_the_experiments_description(client, alice, project, default_experiment):
    client.force_login(alice)
    url = reverse(
        "experiment_describe", kwargs={"slug": "alpha", "experiment_id": default_experiment.pk}
    )
    response = client.post(url, {"description": "Sweep of **lr**"})
    assert response.status_code == 302
    default_experiment.refresh_from_db()
    assert default_experiment.description == "Sweep of **lr**"
    page = client.get(response["Location"]).content.decode()
    assert "Sweep of <strong>lr</strong>" in page
    assert 'action="' + url + '"' in page


def test_a_viewer_sees_no_form_and_cannot_post_and_charlie_gets_404(
    client, bob, charlie, other_project, project, default_experiment
):
    url = reverse(
        "experiment_describe", kwargs={"slug": "alpha", "experiment_id": default_experiment.pk}
    )
    client.force_login(bob)
    page = reverse("experiment", kwargs={"slug": "alpha", "experiment_id": default_experiment.pk})
    assert url not in client.get(page).content.decode()
    assert client.post(url, {"description": "x"}).status_code == 403
    client.force_login(charlie)
    assert client.post(url, {"description": "x"}).status_code == 404
    default_experiment.refresh_from_db()
    assert default_experiment.description == ""


def test_the_form_needs_its_csrf_token(alice, project, default_experiment):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    url = reverse(
        "experiment_describe", kwargs={"slug": "alpha", "experiment_id": default_experiment.pk}
    )
    assert client.post(url, {"description": "x"}).status_code == 403
