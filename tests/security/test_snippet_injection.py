"""Snippet injection: an experiment name with newlines and quotes broke out of the Python string
in the project page's copy-paste snippet. New names may no longer hold control characters
(tracking.validation), and the page writes whatever name is stored (one from before that rule,
or with quotes and backslashes) as a Python literal."""

import ast
import html
import re

import pytest
from django.urls import reverse

from accounts.access import Actor
from tracking.errors import InvalidInput
from tracking.models import Experiment
from tracking.services.experiments import experiment_create

pytestmark = pytest.mark.django_db

NAMES = [
    'x")\nimport os; os.system("touch /tmp/pwned")\n#',
    'it\'s "quoted" \\ and\ttabbed\r\nPY\n',
    "naïve 実験 😀",
    'quote\'s "double" \\ backslash',
]


def snippet_of(response) -> str:
    page = response.content.decode()
    match = re.search(r"python - &lt;&lt;'PY'\n(.*?)\nPY</code></pre>", page, re.S)
    assert match, "no snippet on the page"
    return html.unescape(match.group(1))


@pytest.mark.parametrize("name", NAMES)
def test_the_snippet_sets_exactly_the_experiment_whatever_its_name(client, alice, project, name):
    # Straight into the table, as a name stored before names were checked.
    experiment = Experiment.objects.create(project=project, name=name)
    client.force_login(alice)

    response = client.get(
        reverse("experiment", kwargs={"slug": project.slug, "experiment_id": experiment.pk})
    )

    code = snippet_of(response)
    tree = ast.parse(code)
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "set_experiment"
    ]
    assert len(calls) == 1
    assert ast.literal_eval(calls[0].args[0]) == name
    # Nothing but the snippet's own statements: the import, the call and the with block.
    assert [type(n).__name__ for n in tree.body] == ["Import", "Expr", "With"]
    assert "os.system" not in code.split("set_experiment(")[0]


def test_charlie_gets_404_for_the_page_with_the_snippet(client, alice, charlie, project):
    experiment = Experiment.objects.create(project=project, name=NAMES[0])
    client.force_login(charlie)
    url = reverse("experiment", kwargs={"slug": project.slug, "experiment_id": experiment.pk})
    assert client.get(url).status_code == 404


def test_a_new_name_with_a_newline_is_refused(alice, project):
    with pytest.raises(InvalidInput, match="control characters"):
        experiment_create(actor=Actor(user=alice), project=project, name=NAMES[0])
