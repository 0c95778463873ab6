"""The same calls against MLflow's own tracking server and against ours, compared field by field.

MLflow's server (the `mlflow` package of the dev extra, SQLite backend) runs as a subprocess for
the session; ours is pytest-django's `live_server` with alice's token. Both get the same raw REST
calls; every answer is normalised only where the two differ by design (`BY_DESIGN` below, each
with its reason) and must then be equal: status, error_code, and the message where clients or
users match on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from accounts.models import TokenScope
from tests.e2e.conftest import free_port
from tests.factories import make_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

API = "api/2.0/mlflow/"
AJAX = "ajax-api/2.0/mlflow/"
TIMEOUT = 30

# Fields that differ by design, replaced by a marker on both sides (the field must still be
# present on both, or absent on both).
BY_DESIGN = {
    # Runs belong to the token's user here; MLflow's server takes whatever the client says.
    "user_id",
    # Artifacts live under this server's own store and URLs (mlflow-artifacts:/<experiment pk>/
    # ...), not under MLflow's --default-artifact-root; clients only pass them back to us.
    "artifact_location",
    "artifact_uri",
    "root_uri",
    # Clocks: set by each server when it writes the row.
    "creation_time",
    "last_update_time",
    "start_time",
    "end_time",
    "creation_timestamp_ms",
    "last_updated_timestamp_ms",
    "creation_timestamp",
    "last_updated_timestamp",
    # Paging tokens are opaque and each server's own encoding.
    "next_page_token",
}
ID_FIELDS = {"run_id", "run_uuid", "experiment_id", "model_id", "source_run_id"}
# Fields whose text holds ids (`models:/<model_id>`, `runs:/<run_id>/clf`); error messages too.
ID_HOLDERS = {"source"}
# Fields only MLflow's server writes: every experiment is in its "default" workspace; this server
# has none (server-info says workspaces_enabled: false, as MLflow's does).
ONLY_MLFLOW = {"workspace"}
# Tags only one side writes: this server records the token's user on every new run as
# mlflow.user (the client sends it too, with the same value); MLflow's takes what it is sent.
BY_DESIGN_TAGS = {"mlflow.user"}
# Ids (run ids, experiment ids, model ids) are each server's own; every id an answer brings is
# mapped to a name in order of appearance (`Side.alias`), so references between answers still
# must agree. Experiment "0" (MLflow's Default) is the Default experiment of the token's project.


@dataclass
class Side:
    name: str
    base: str
    headers: dict[str, str]
    aliases: dict[str, str] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)

    def call(self, method: str, endpoint: str, payload: dict | None = None, prefix: str = API):
        url = self.base + prefix + endpoint
        if method == "GET":
            response = self.session.get(url, params=payload, headers=self.headers, timeout=TIMEOUT)
        else:
            response = self.session.request(
                method, url, data=json.dumps(payload or {}), headers=self.headers, timeout=TIMEOUT
            )
        try:
            body = response.json()
        except ValueError:
            body = {"<not json>": response.text[:200]}
        return response.status_code, body

    def alias(self, value: str, kind: str) -> str:
        """A stable name for an id this side handed out."""
        if value not in self.aliases:
            self.aliases[value] = f"<{kind} {len([k for k in self.aliases.values() if kind in k])}>"
        return self.aliases[value]

    def normalised(self, body):
        return _normalise(body, self.aliases)


def _normalise(value, aliases: dict[str, str], key: str | None = None):
    if isinstance(value, dict):
        out = {}
        # MLflow's server records no user on a model version (its user_id stays empty); this
        # one records the token's user, whom the model page shows as who registered it.
        is_version = "current_stage" in value
        for k, v in value.items():
            if k in ONLY_MLFLOW or (is_version and k == "user_id"):
                continue
            if k in BY_DESIGN:
                out[k] = "<by design>"
            elif k in ID_FIELDS and isinstance(v, str) and v in aliases:
                out[k] = aliases[v]
            elif k in ID_HOLDERS and isinstance(v, str):
                out[k] = _replace_ids(v, aliases)
            else:
                out[k] = _normalise(v, aliases, k)
        return out
    if isinstance(value, list):
        items = [_normalise(v, aliases, key) for v in value]
        if key == "tags":
            items = [
                i for i in items if not (isinstance(i, dict) and i.get("key") in BY_DESIGN_TAGS)
            ]
        # Tags, params and latest metrics come in no defined order on either server.
        if key in ("tags", "params") or (key == "metrics" and _is_latest(items)):
            items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return items
    return value


def _replace_ids(text: str, aliases: dict[str, str]) -> str:
    for value, alias in aliases.items():
        if len(value) > 8:  # ids, not "0"
            text = text.replace(value, alias)
    return text


def _is_latest(items: list) -> bool:
    return all(isinstance(i, dict) and "run_id" not in i for i in items) and (
        len({i.get("key") for i in items if isinstance(i, dict)}) == len(items)
    )


# --- MLflow's server -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> Iterator[str]:
    """`mlflow server` on a free port with a fresh SQLite store; its base URL."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log_path = root / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DJANGO_"))}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                f"sqlite:///{root}/mlflow.db",
                "--default-artifact-root",
                str(root / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/"
    try:
        _wait_for_health(process, base, log_path)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_for_health(process: subprocess.Popen, base: str, log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.skip(f"MLflow's server did not start:\n{log_path.read_text()[-2000:]}")
        try:
            if requests.get(base + "health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    pytest.skip(f"MLflow's server did not answer /health in 90 s:\n{log_path.read_text()[-2000:]}")


@pytest.fixture
def sides(mlflow_server, live_server, alice_token, default_experiment) -> tuple[Side, Side]:
    theirs = Side("mlflow", mlflow_server, {"Content-Type": "application/json"})
    ours = Side(
        "ours",
        live_server.url + "/",
        {"Content-Type": "application/json", "Authorization": f"Bearer {alice_token[1]}"},
    )
    # Each side's Default experiment is the other's.
    theirs.aliases["0"] = "<Default>"
    ours.aliases["0"] = "<Default>"
    ours.aliases[str(default_experiment.pk)] = "<Default>"
    return theirs, ours


# --- the comparison --------------------------------------------------------------------------


class Differ:
    """Runs each call on both sides and records what differs, so one run lists every difference."""

    def __init__(self, theirs: Side, ours: Side, tag: str) -> None:
        self.theirs, self.ours = theirs, ours
        # Names are unique per test run: MLflow's store lives for the whole session.
        self.tag = tag
        self.differences: list[str] = []
        # MLflow's status per call, so the test can check it exercised what it meant to.
        self.statuses: dict[str, int] = {}

    def both(
        self,
        method,
        endpoint,
        payload=None,
        *,
        ids=(),
        message=False,
        label="",
        prefix=API,
        status_only=False,
    ):
        """The call on both sides; `ids` names the answer's fields holding new ids to alias
        (dotted paths), `message` whether an error's message must match too. Returns both
        raw bodies."""
        answers = []
        for side in (self.theirs, self.ours):
            path = self._payload(side, {"path": endpoint})["path"]
            status, body = side.call(method, path, self._payload(side, payload), prefix)
            for path in ids:
                found = _dig(body, path)
                if isinstance(found, str):
                    side.alias(found, path.rsplit(".", 1)[-1])
            answers.append((status, body))
        (their_status, their_body), (our_status, our_body) = answers
        what = f"{method} {endpoint} {label}".strip()
        self.statuses[what] = their_status
        if their_status != our_status:
            self.differences.append(
                f"{what}: status {their_status} (mlflow) != {our_status} (ours)\n"
                f"  mlflow: {json.dumps(their_body)[:400]}\n  ours:   {json.dumps(our_body)[:400]}"
            )
            return their_body, our_body
        if status_only:
            return their_body, our_body
        if their_status != 200:
            self._compare_error(what, their_body, our_body, message)
        else:
            theirs_n = self.theirs.normalised(their_body)
            ours_n = self.ours.normalised(our_body)
            if theirs_n != ours_n:
                self.differences.append(
                    f"{what}: bodies differ\n  mlflow: {json.dumps(theirs_n)[:1500]}\n"
                    f"  ours:   {json.dumps(ours_n)[:1500]}"
                )
        return their_body, our_body

    def differ_by_design(self, method, endpoint, payload, *, statuses, label):
        """A call whose answers differ on purpose (the reason is at the call): only checks that
        each side still answers with the status written down."""
        got = tuple(
            side.call(method, endpoint, self._payload(side, payload))[0]
            for side in (self.theirs, self.ours)
        )
        if got != statuses:
            self.differences.append(
                f"{method} {endpoint} {label}: statuses {got}, by design {statuses}"
            )

    def _compare_error(self, what, theirs, ours, message):
        if theirs.get("error_code") != ours.get("error_code"):
            self.differences.append(
                f"{what}: error_code {theirs.get('error_code')} (mlflow) != "
                f"{ours.get('error_code')} (ours)\n  mlflow: {theirs}\n  ours:   {ours}"
            )
        elif message and _replace_ids(
            theirs.get("message", ""), self.theirs.aliases
        ) != _replace_ids(ours.get("message", ""), self.ours.aliases):
            self.differences.append(
                f"{what}: message differs\n  mlflow: {theirs.get('message')!r}\n"
                f"  ours:   {ours.get('message')!r}"
            )

    def _payload(self, side: Side, payload):
        """The payload with `<alias>` placeholders replaced by this side's id."""
        if payload is None:
            return None
        by_alias = {alias: value for value, alias in side.aliases.items() if value != "0"}
        by_alias["<Default>"] = "0"
        text = json.dumps(payload).replace("{tag}", self.tag)
        for alias, value in by_alias.items():
            text = text.replace(json.dumps(alias)[1:-1], value)
        return json.loads(text)


def _dig(body, path: str):
    for part in path.split("."):
        if isinstance(body, list):
            body = body[int(part)] if part.isdigit() and int(part) < len(body) else None
        elif isinstance(body, dict):
            body = body.get(part)
        else:
            return None
    return body


def test_every_tracking_endpoint_answers_as_mlflows_server(sides):
    d = Differ(*sides, tag=f"t{time.time_ns()}")
    run = "<run_id 0>"
    exp = "<experiment_id 0>"

    # Experiments.
    d.both("POST", "experiments/create", {"name": "{tag}-a"}, ids=["experiment_id"])
    d.both(
        "POST",
        "experiments/create",
        {"name": "{tag}-b", "tags": [{"key": "team", "value": "rl"}]},
        ids=["experiment_id"],
    )
    d.both("POST", "experiments/create", {"name": "{tag}-a"}, label="duplicate")
    d.both("POST", "experiments/create", {"name": "{tag}-c", "artifact_location": 9.0})
    d.both("POST", "experiments/create", {}, message=True, label="no name")
    d.both("GET", "experiments/get", {"experiment_id": exp})
    d.both("GET", "experiments/get", {"experiment_id": "123456789"}, label="missing")
    d.both("GET", "experiments/get-by-name", {"experiment_name": "{tag}-b"})
    d.both("GET", "experiments/get-by-name", {"experiment_name": "{tag}-nope"}, message=True)
    d.both(
        "POST",
        "experiments/set-experiment-tag",
        {"experiment_id": exp, "key": "k", "value": "v"},
    )
    d.both("POST", "experiments/delete-experiment-tag", {"experiment_id": exp, "key": "k"})
    d.both("POST", "experiments/update", {"experiment_id": exp, "new_name": "{tag}-a2"})
    d.both("GET", "experiments/get", {"experiment_id": exp}, label="after update")
    # max_results is always sent: the client does, and without it MLflow's server answers 400
    # where this one takes 1,000 (by design: a raw REST call needs no boilerplate).
    d.both(
        "POST",
        "experiments/search",
        {"filter": "name LIKE '{tag}-%'", "max_results": 1000},
        label="default order",
    )
    d.both(
        "POST",
        "experiments/search",
        {"filter": "name LIKE '{tag}-%'", "order_by": ["name DESC"], "max_results": 1},
        label="ordered, one page",
    )
    d.both(
        "POST",
        "experiments/search",
        {"filter": "name ~ 'x'", "max_results": 10},
        label="bad filter",
    )

    # Runs.
    d.both(
        "POST",
        "runs/create",
        {
            "experiment_id": exp,
            "run_name": "first",
            "start_time": 1_700_000_000_000,
            "tags": [{"key": "mlflow.user", "value": "someone"}, {"key": "t", "value": "1"}],
        },
        ids=["run.info.run_id"],
    )
    # start_time is always sent, as the client does: without it MLflow's server writes 0, this
    # one the time of the call (by design).
    d.both(
        "POST",
        "runs/create",
        {"experiment_id": exp, "run_name": "second", "start_time": 1_700_000_000_001},
        ids=["run.info.run_id"],
    )
    d.both(
        "POST",
        "runs/log-metric",
        {"run_id": run, "key": "loss", "value": 0.5, "timestamp": 10, "step": 0},
    )
    d.both(
        "POST",
        "runs/log-batch",
        {
            "run_id": run,
            "metrics": [
                {"key": "m", "value": float(i), "timestamp": 100 + i, "step": i} for i in range(10)
            ],
            "params": [{"key": "lr", "value": "0.01"}],
            "tags": [{"key": "team", "value": "nlp"}],
        },
    )
    d.both("POST", "runs/log-parameter", {"run_id": run, "key": "layers", "value": "3"})
    d.both("POST", "runs/set-tag", {"run_id": run, "key": "gone", "value": "soon"})
    d.both("POST", "runs/delete-tag", {"run_id": run, "key": "gone"})
    d.both("POST", "runs/update", {"run_id": run, "status": "FINISHED", "end_time": 1})
    d.both("GET", "runs/get", {"run_id": run})
    d.both("GET", "metrics/get-history", {"run_id": run, "metric_key": "m"})
    d.both(
        "GET",
        "metrics/get-history",
        {"run_id": run, "metric_key": "m", "max_results": 3},
        label="paged",
    )
    d.both(
        "GET",
        "metrics/get-history-bulk-interval",
        {"run_ids": [run], "metric_key": "m", "max_results": 5},
    )
    d.both(
        "GET",
        "metrics/get-history-bulk-interval",
        {"run_ids": [run], "metric_key": "m", "max_results": 3, "start_step": 2, "end_step": 7},
        label="range",
    )
    d.both(
        "GET",
        "metrics/get-history-bulk-interval",
        {"run_ids": [run], "metric_key": "m", "start_step": 2},
        message=True,
        label="start without end",
    )
    d.both(
        "GET",
        "metrics/get-history-bulk-interval",
        {"run_ids": [run] * 1000, "metric_key": "m"},
        message=True,
        label="1,000 run_ids",
    )
    d.both(
        "POST",
        "runs/search",
        {"experiment_ids": [exp], "filter": "metrics.loss < 1", "order_by": ["start_time"]},
    )
    d.both("POST", "runs/search", {"experiment_ids": [exp]}, label="default order")
    d.both(
        "POST",
        "runs/search",
        {"experiment_ids": [exp], "filter": "params.lr = '0.01' and tags.team = 'nlp'"},
        label="params and tags",
    )
    d.both(
        "POST",
        "runs/search",
        {"experiment_ids": [exp], "filter": "metrics.loss <"},
        label="bad filter",
    )
    d.both("GET", "artifacts/list", {"run_id": run})

    # Datasets and their filters.
    dataset = {
        "name": "iris",
        "digest": "abc123",
        "source_type": "local",
        "source": '{"uri": "/data/iris.csv"}',
        "schema": "",
        "profile": "",
    }
    d.both(
        "POST",
        "runs/log-inputs",
        {
            "run_id": run,
            "datasets": [
                {"dataset": dataset, "tags": [{"key": "mlflow.data.context", "value": "train"}]}
            ],
        },
    )
    for text in ("dataset.name = 'iris'", "dataset.digest = 'nope'", "dataset.context = 'train'"):
        d.both("POST", "runs/search", {"experiment_ids": [exp], "filter": text}, label=text)
    # MLflow's server serves search-datasets under /ajax-api only.
    d.both("POST", "experiments/search-datasets", {"experiment_ids": [exp]}, prefix=AJAX)

    # Logged models.
    d.both(
        "POST",
        "logged-models",
        {"experiment_id": exp, "name": "clf", "source_run_id": run, "model_type": "sklearn"},
        ids=["model.info.model_id"],
    )
    model = "<model_id 0>"
    d.both("GET", f"logged-models/{model}")
    d.both(
        "PATCH",
        f"logged-models/{model}",
        {"model_id": model, "status": "LOGGED_MODEL_READY"},
    )
    d.both("PATCH", f"logged-models/{model}/tags", {"tags": [{"key": "k", "value": "v"}]})
    d.both("POST", "logged-models/search", {"experiment_ids": [exp]})
    d.both("GET", "logged-models/m-00000000000000000000000000000000", label="missing")

    # Errors the client or users match on.
    d.both(
        "POST",
        "runs/log-parameter",
        {"run_id": 31, "key": "k", "value": 5},
        message=True,
        label="numeric run_id",
    )
    d.both(
        "POST",
        "runs/log-batch",
        {"run_id": run, "params": [{"key": "p", "value": None}]},
        label="null param value",
    )
    d.both(
        "POST",
        "runs/log-parameter",
        {"run_id": run, "key": "lr", "value": "0.02"},
        label="changed param",
    )
    d.both(
        "POST",
        "runs/log-metric",
        {"run_id": "f" * 32, "key": "x", "value": 1, "timestamp": 1},
        label="missing run",
    )
    d.both("GET", "runs/get", {"run_id": "f" * 32}, message=True, label="missing run")
    d.both(
        "POST",
        "runs/log-metric",
        {"run_id": run, "key": "bad key!", "value": 1, "timestamp": 1},
        label="bad key",
    )
    d.both(
        "POST",
        "runs/search",
        {"experiment_ids": [exp], "max_results": 50_001},
        label="too many results",
    )
    d.both("POST", "runs/delete", {"run_id": run})
    d.both(
        "POST",
        "runs/search",
        {"experiment_ids": [exp], "run_view_type": "DELETED_ONLY"},
        label="deleted",
    )
    d.both("POST", "runs/restore", {"run_id": run})
    d.both("POST", "experiments/delete", {"experiment_id": exp})
    d.both("GET", "experiments/get", {"experiment_id": exp}, label="deleted")
    d.both("POST", "experiments/restore", {"experiment_id": exp})
    # MLflow's server answers an unknown endpoint with Flask's HTML 404; this one with a JSON
    # ENDPOINT_NOT_FOUND (by design, so the client's fallbacks read it): only the status compares.
    d.both("POST", "no/such/endpoint", {}, label="unknown endpoint", status_only=True)

    assert not d.differences, "\n\n".join(d.differences)
    failed = {what for what, status in d.statuses.items() if status != 200}
    # Every call meant to succeed did, on both sides (the statuses were equal).
    assert failed == {
        "POST experiments/create duplicate",
        "POST experiments/create",  # artifact_location 9.0
        "POST experiments/create no name",
        "GET experiments/get missing",
        "GET experiments/get-by-name",  # the second, for a name that does not exist
        "POST experiments/search bad filter",
        "GET metrics/get-history-bulk-interval start without end",
        "GET metrics/get-history-bulk-interval 1,000 run_ids",
        "POST runs/search bad filter",
        "GET logged-models/m-00000000000000000000000000000000 missing",
        "POST runs/log-parameter numeric run_id",
        "POST runs/log-parameter changed param",  # a param's value cannot change
        "POST runs/log-metric missing run",
        "GET runs/get missing run",
        "POST runs/log-metric bad key",
        "POST runs/search too many results",
        "POST no/such/endpoint unknown endpoint",
    }, sorted(failed)


def test_the_client_sees_the_same_runs_on_both(sides, monkeypatch):
    """MlflowClient against each URI: the entities it builds agree, as do its exceptions."""
    theirs, ours = sides
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    results = []
    for side in (theirs, ours):
        if "Authorization" in side.headers:
            os.environ["MLFLOW_TRACKING_TOKEN"] = side.headers["Authorization"].split()[-1]
        try:
            client = MlflowClient(tracking_uri=side.base.rstrip("/"))
            experiment_id = client.create_experiment(f"client-{time.time_ns()}")
            run = client.create_run(experiment_id, run_name="c")
            client.log_batch(
                run.info.run_id,
                metrics=[Metric("acc", i / 10, i, i) for i in range(5)],
                params=[Param("p", "1")],
                tags=[RunTag("t", "x")],
            )
            client.set_terminated(run.info.run_id)
            got = client.get_run(run.info.run_id)
            history = client.get_metric_history(run.info.run_id, "acc")
            found = client.search_runs([experiment_id], "metrics.acc > 0.1")
            with pytest.raises(MlflowException) as missing:
                client.get_run("0" * 32)
            results.append(
                {
                    "status": got.info.status,
                    "name": got.info.run_name,
                    "metrics": got.data.metrics,
                    "params": got.data.params,
                    "tags": {k: v for k, v in got.data.tags.items() if k not in BY_DESIGN_TAGS},
                    "history": [(m.step, m.value, m.timestamp) for m in history],
                    "found": [r.info.run_id == run.info.run_id for r in found],
                    "missing": missing.value.error_code,
                }
            )
        finally:
            os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
    assert results[0] == results[1]


def test_every_registry_endpoint_answers_as_mlflows_server(sides, alice, project):
    theirs, ours = sides
    # Deletes need a manager: alice's manage token (MLflow's server has no roles).
    _, raw = make_token(user=alice, project=project, scope=TokenScope.MANAGE)
    ours.headers["Authorization"] = f"Bearer {raw}"
    d = Differ(theirs, ours, tag=f"r{time.time_ns()}")
    exp = "<experiment_id 0>"
    run = "<run_id 0>"
    model = "<model_id 0>"
    name = "{tag}-clf"

    # A run with a logged model named "clf" on each side, the sources of the versions below.
    d.both("POST", "experiments/create", {"name": "{tag}-reg"}, ids=["experiment_id"])
    d.both(
        "POST",
        "runs/create",
        {"experiment_id": exp, "run_name": "train", "start_time": 1_700_000_000_000},
        ids=["run.info.run_id"],
    )
    d.both(
        "POST",
        "logged-models",
        {"experiment_id": exp, "name": "clf", "source_run_id": run},
        ids=["model.info.model_id"],
    )
    d.both("PATCH", f"logged-models/{model}", {"model_id": model, "status": "LOGGED_MODEL_READY"})

    # Registered models.
    d.both(
        "POST",
        "registered-models/create",
        {"name": name, "description": "first", "tags": [{"key": "team", "value": "fraud"}]},
    )
    d.both("POST", "registered-models/create", {"name": "{tag}-other"})
    d.both("POST", "registered-models/create", {"name": name}, message=True, label="duplicate")
    d.both("POST", "registered-models/create", {}, label="no name")
    d.both("POST", "registered-models/create", {"name": ""}, label="empty name")
    d.both("GET", "registered-models/get", {"name": name})
    d.both("GET", "registered-models/get", {"name": "{tag}-nope"}, message=True, label="unknown")
    d.both("PATCH", "registered-models/update", {"name": name, "description": "second"})
    d.both("PATCH", "registered-models/update", {"name": "{tag}-nope"}, label="unknown")
    d.both("POST", "registered-models/set-tag", {"name": name, "key": "stage", "value": "x"})
    d.both(
        "POST",
        "registered-models/set-tag",
        {"name": name, "key": "", "value": "x"},
        label="empty key",
    )
    d.both("DELETE", "registered-models/delete-tag", {"name": name, "key": "stage"})
    d.both(
        "DELETE",
        "registered-models/delete-tag",
        {"name": name, "key": "never"},
        label="unknown key",
    )
    d.both("POST", "registered-models/rename", {"name": "{tag}-other", "new_name": "{tag}-renamed"})
    d.both(
        "POST",
        "registered-models/rename",
        {"name": "{tag}-renamed", "new_name": name},
        label="taken",
    )
    d.both(
        "POST",
        "registered-models/rename",
        {"name": "{tag}-nope", "new_name": "{tag}-x"},
        label="unknown",
    )
    d.both("POST", "registered-models/rename", {"name": "{tag}-renamed"}, label="no new name")

    # Model versions: from a logged model (as register_model sends it), from a runs:/ URI.
    d.both(
        "POST",
        "model-versions/create",
        {"name": name, "source": f"models:/{model}", "run_id": run, "model_id": model},
    )
    d.both(
        "POST",
        "model-versions/create",
        {
            "name": name,
            "source": f"runs:/{run}/clf",
            "run_id": run,
            "description": "from the run",
            "tags": [{"key": "k", "value": "v"}],
        },
    )
    d.both(
        "POST",
        "model-versions/create",
        {"name": "{tag}-nope", "source": f"runs:/{run}/clf", "run_id": run},
        label="unknown model",
    )
    d.both("POST", "model-versions/create", {"name": name}, label="no source")
    d.both(
        "POST",
        "model-versions/create",
        {"name": name, "source": f"runs:/{run}/clf"},
        message=True,
        label="runs URI without run_id",
    )
    # MLflow's server fails with a 500 INTERNAL_ERROR when the logged model does not exist;
    # this one answers INVALID_PARAMETER_VALUE (400) with the same message.
    missing = "m-00000000000000000000000000000000"
    d.differ_by_design(
        "POST",
        "model-versions/create",
        {"name": name, "source": f"models:/{missing}", "model_id": missing},
        statuses=(500, 400),
        label="unknown logged model",
    )
    d.both("GET", "model-versions/get", {"name": name, "version": "2"})
    d.both(
        "GET",
        "model-versions/get",
        {"name": name, "version": "9"},
        message=True,
        label="unknown version",
    )
    d.both("GET", "model-versions/get", {"name": name, "version": "one"}, label="not a number")
    d.both(
        "GET", "model-versions/get", {"name": "{tag}-nope", "version": "1"}, label="unknown model"
    )
    d.both("PATCH", "model-versions/update", {"name": name, "version": "1", "description": "best"})
    d.both(
        "PATCH",
        "model-versions/update",
        {"name": name, "version": "9", "description": "x"},
        label="unknown version",
    )
    d.both(
        "POST",
        "model-versions/set-tag",
        {"name": name, "version": "1", "key": "validated", "value": "yes"},
    )
    d.both(
        "POST",
        "model-versions/set-tag",
        {"name": name, "version": "9", "key": "a", "value": "b"},
        label="unknown version",
    )
    d.both("DELETE", "model-versions/delete-tag", {"name": name, "version": "2", "key": "k"})
    d.both("GET", "model-versions/get-download-uri", {"name": name, "version": "2"})
    d.both(
        "GET",
        "model-versions/get-download-uri",
        {"name": name, "version": "9"},
        label="unknown version",
    )

    # Aliases.
    d.both("POST", "registered-models/alias", {"name": name, "alias": "champion", "version": "1"})
    d.both(
        "POST",
        "registered-models/alias",
        {"name": name, "alias": "champion", "version": "2"},
        label="moved",
    )
    d.both(
        "POST",
        "registered-models/alias",
        {"name": name, "alias": "shadow", "version": "1"},
        label="second",
    )
    d.both(
        "POST",
        "registered-models/alias",
        {"name": name, "alias": "v3", "version": "1"},
        message=True,
        label="looks like a version",
    )
    d.both(
        "POST",
        "registered-models/alias",
        {"name": name, "alias": "latest", "version": "1"},
        message=True,
        label="latest",
    )
    d.both(
        "POST",
        "registered-models/alias",
        {"name": name, "alias": "x", "version": "9"},
        label="unknown version",
    )
    d.both("GET", "registered-models/alias", {"name": name, "alias": "champion"})
    d.both(
        "GET",
        "registered-models/alias",
        {"name": name, "alias": "nope"},
        message=True,
        label="unknown alias",
    )
    d.both("GET", "registered-models/get", {"name": name}, label="with aliases")
    d.both("DELETE", "registered-models/alias", {"name": name, "alias": "shadow"})
    d.both(
        "DELETE", "registered-models/alias", {"name": name, "alias": "never"}, label="unknown alias"
    )

    # Versions of another model made from this one's versions, by number and by alias.
    d.both("POST", "registered-models/create", {"name": "{tag}-copy"})
    d.both("POST", "model-versions/create", {"name": "{tag}-copy", "source": f"models:/{name}/1"})
    d.both(
        "POST",
        "model-versions/create",
        {"name": "{tag}-copy", "source": f"models:/{name}@champion"},
        label="by alias",
    )
    d.both(
        "POST",
        "model-versions/create",
        {"name": "{tag}-copy", "source": f"models:/{name}@nope"},
        label="unknown alias",
    )
    d.both("GET", "model-versions/get-download-uri", {"name": "{tag}-copy", "version": "2"})

    # Deprecated stages, as MLflow 3 still answers them.
    d.both(
        "POST",
        "model-versions/transition-stage",
        {"name": name, "version": "1", "stage": "Staging", "archive_existing_versions": False},
    )
    d.both(
        "POST",
        "model-versions/transition-stage",
        {"name": name, "version": "2", "stage": "Staging", "archive_existing_versions": True},
        label="archive",
    )
    d.both(
        "POST",
        "model-versions/transition-stage",
        {"name": name, "version": "1", "stage": "Nowhere", "archive_existing_versions": False},
        label="bad stage",
    )
    d.both("POST", "registered-models/get-latest-versions", {"name": name})
    d.both(
        "POST",
        "registered-models/get-latest-versions",
        {"name": name, "stages": ["Staging"]},
        label="staging",
    )
    d.both(
        "GET",
        "registered-models/get-latest-versions",
        {"name": name, "stages": "Archived"},
        label="GET",
    )
    d.both("POST", "registered-models/get-latest-versions", {"name": "{tag}-nope"}, label="unknown")

    # Searches: the filter grammar, order, paging, bad filters.
    d.both("GET", "registered-models/search", {"filter": "name LIKE '{tag}-%'", "max_results": 100})
    d.both(
        "GET",
        "registered-models/search",
        {"filter": "name LIKE '{tag}-%'", "order_by": ["name DESC"], "max_results": 1},
        label="ordered, one page",
    )
    d.both(
        "GET",
        "registered-models/search",
        {"filter": "name ILIKE '{TAG}-CL%'".replace("{TAG}", "{tag}"), "max_results": 10},
        label="ilike",
    )
    d.both(
        "GET",
        "registered-models/search",
        {"filter": "name = '{tag}-clf' AND tags.team = 'fraud'"},
        label="tags",
    )
    d.both("GET", "registered-models/search", {"filter": "name ~ 'x'"}, label="bad filter")
    d.both(
        "GET",
        "registered-models/search",
        {"filter": "name LIKE '{tag}-%'", "order_by": ["nope DESC"]},
        label="bad order",
    )
    d.both("GET", "model-versions/search", {"filter": "name = '{tag}-clf'"})
    d.both(
        "GET",
        "model-versions/search",
        {
            "filter": f"name = '{{tag}}-clf' AND run_id = '{run}'",
            "order_by": ["version_number ASC"],
        },
        label="by run",
    )
    d.both(
        "GET",
        "model-versions/search",
        {"filter": "name = '{tag}-clf' AND tags.validated = 'yes'"},
        label="tags",
    )
    d.both(
        "GET",
        "model-versions/search",
        {"filter": "name = '{tag}-clf' AND version_number > 1"},
        label="version number",
    )
    d.both(
        "GET",
        "model-versions/search",
        {"filter": "name = '{tag}-clf'", "max_results": 1},
        label="one page",
    )
    d.both("GET", "model-versions/search", {"filter": "nope = 'x'"}, label="bad filter")

    # Bad names, and deletes. MLflow's server takes a name with a control character; this one
    # refuses it (400), as names are shown on pages and in URLs.
    d.differ_by_design(
        "POST",
        "registered-models/create",
        {"name": "{tag}-bad\u0007"},
        statuses=(200, 400),
        label="control character",
    )
    d.both("POST", "registered-models/create", {"name": "{tag}/slash"}, label="slash")
    d.both("DELETE", "model-versions/delete", {"name": name, "version": "2"})
    d.both("DELETE", "model-versions/delete", {"name": name, "version": "2"}, label="again")
    d.both("GET", "registered-models/get", {"name": name}, label="after deleting a version")
    d.both("DELETE", "registered-models/delete", {"name": "{tag}-renamed"})
    d.both("DELETE", "registered-models/delete", {"name": "{tag}-renamed"}, label="again")
    d.both("DELETE", "registered-models/delete", {"name": name})
    d.both("GET", "model-versions/search", {"filter": "name = '{tag}-clf'"}, label="after delete")

    assert not d.differences, "\n\n".join(d.differences)
    failed = sorted(what for what, status in d.statuses.items() if status != 200)
    assert failed == [
        "DELETE model-versions/delete again",
        "DELETE registered-models/delete again",
        "GET model-versions/get not a number",
        "GET model-versions/get unknown model",
        "GET model-versions/get unknown version",
        "GET model-versions/get-download-uri unknown version",
        "GET model-versions/search bad filter",
        "GET registered-models/alias unknown alias",
        "GET registered-models/get unknown",
        "GET registered-models/search bad filter",
        "GET registered-models/search bad order",
        "PATCH model-versions/update unknown version",
        "PATCH registered-models/update unknown",
        "POST model-versions/create no source",
        "POST model-versions/create runs URI without run_id",
        "POST model-versions/create unknown alias",
        "POST model-versions/create unknown model",
        "POST model-versions/set-tag unknown version",
        "POST model-versions/transition-stage bad stage",
        "POST registered-models/alias latest",
        "POST registered-models/alias looks like a version",
        "POST registered-models/alias unknown version",
        "POST registered-models/create duplicate",
        "POST registered-models/create empty name",
        "POST registered-models/create no name",
        "POST registered-models/create slash",
        "POST registered-models/get-latest-versions unknown",
        "POST registered-models/rename no new name",
        "POST registered-models/rename taken",
        "POST registered-models/rename unknown",
        "POST registered-models/set-tag empty key",
    ], failed
