"""Fuzz every native API operation against its own OpenAPI schema, on a live server.

Positive and negative data, at least 50 examples per operation: no 5xx, and no status code,
content type, header or body that the schema does not document. Bounded to a couple of minutes
on two cores, so it runs with the normal suite.
"""

import json

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tracking.batch import MetricIn
from tracking.services.ingest import run_log_batch

from .helpers import make_run

pytestmark = [pytest.mark.schemathesis, pytest.mark.django_db(transaction=True)]

EXAMPLES_PER_OPERATION = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def seeded(alice, project, default_experiment, alice_token):
    """Real objects for the path parameters, so the fuzzer gets past the lookups."""
    run = make_run(alice, default_experiment, name="fuzz", params={"lr": "0.1"})
    run_log_batch(
        run=run, metrics=[MetricIn(key="loss", value=v / 3, timestamp=v, step=v) for v in range(50)]
    )
    return {
        "slug": project.slug,
        "experiment_id": default_experiment.pk,
        "run_id": run.run_id,
        "key": "loss",
        "headers": {"Authorization": f"Bearer {alice_token[1]}"},
    }


def _schema_document() -> dict:
    # Built in-process at collection, because the tests are parametrized per operation before
    # any server runs; test_the_live_schema_is_the_one_fuzzed checks the server serves the same.
    # (schemathesis.pytest.from_fixture would load it from the live server, but its lazy
    # loader does not work with pytest 9.)
    from drf_spectacular.generators import SchemaGenerator

    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))


DOCUMENT = _schema_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.generation.update(modes=["positive", "negative"], max_examples=EXAMPLES_PER_OPERATION)


def test_the_live_schema_is_the_one_fuzzed(live_server, seeded):
    response = requests.get(
        f"{live_server.url}/api/v1/schema/?format=json", headers=seeded["headers"], timeout=30
    )
    assert response.status_code == 200
    assert response.json() == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_native_api_keeps_to_its_schema(case, live_server, seeded):
    for name in ("slug", "experiment_id", "run_id", "key"):
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = seeded[name]
    case.call_and_validate(
        base_url=live_server.url, headers=seeded["headers"], checks=CHECKS, timeout=30
    )
