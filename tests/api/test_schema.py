"""The OpenAPI schema, the interactive docs, the error shape and the throttles."""

import pytest
import yaml
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient

from .helpers import API, client_for

pytestmark = pytest.mark.django_db


def test_the_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    paths = schema["paths"]
    for path in [
        "/api/v1/me/",
        "/api/v1/projects/",
        "/api/v1/projects/{slug}/members/",
        "/api/v1/tokens/",
        "/api/v1/projects/{slug}/experiments/",
        "/api/v1/experiments/{experiment_id}/runs/",
        "/api/v1/experiments/{experiment_id}/runs.csv",
        "/api/v1/runs/{run_id}/",
        "/api/v1/runs/{run_id}/log/",
        "/api/v1/runs/{run_id}/metrics/",
        "/api/v1/runs/{run_id}/metrics/{key}/history/",
        "/api/v1/runs/{run_id}/metrics/{key}/history.csv",
        "/api/v1/metrics/history/",
        "/api/v1/runs/{run_id}/artifacts/",
    ]:
        assert path in paths, path
    assert not any(p.startswith("/api/2.0") for p in paths)


def test_every_native_operation_documents_the_error_shape(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorDetail")
    for path, item in schema["paths"].items():
        if path == "/api/v1/me/":
            continue
        for method, operation in item.items():
            for code in ("400", "401", "403", "404", "429"):
                assert code in operation["responses"], (path, method, code)
            assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_runs_list_documents_its_filters(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    operation = schema["paths"]["/api/v1/experiments/{experiment_id}/runs/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"status", "lifecycle", "user", "start_time_min", "start_time_max", "parent"} <= names
    assert {"name", "filter", "order_by", "columns", "cursor", "page_size"} <= names


def test_the_schema_and_docs_are_for_signed_in_callers(alice_token):
    assert APIClient().get(f"{API}/schema/").status_code == 401
    api = client_for(alice_token[1])
    response = api.get(f"{API}/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/v1/runs/{run_id}/log/" in response.json()["paths"]


def test_swagger_ui_is_served_from_the_sidecar_not_a_cdn(alice):
    client = APIClient()
    client.force_login(alice)
    response = client.get(f"{API}/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()


def test_unknown_methods_and_bad_json_use_the_error_shape(alice_token, default_experiment):
    api = client_for(alice_token[1])
    response = api.put(f"{API}/experiments/{default_experiment.pk}/runs/", {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    bad = api.post(
        f"{API}/experiments/{default_experiment.pk}/runs/",
        "{not json",
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid"


@pytest.fixture
def tight_rates(settings):
    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"log": "2/min", "read": "3/min"},
    }
    yield
    cache.clear()


def test_reads_are_throttled_with_retry_after(tight_rates, alice_token, default_experiment):
    api = client_for(alice_token[1])
    url = f"{API}/experiments/{default_experiment.pk}/runs/"
    assert [api.get(url).status_code for _ in range(3)] == [200, 200, 200]
    response = api.get(url)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "throttled"


def test_logging_has_its_own_bucket(tight_rates, alice, alice_token, default_experiment):
    from .helpers import make_run

    run = make_run(alice, default_experiment)
    api = client_for(alice_token[1])
    log = f"{API}/runs/{run.run_id}/log/"
    body = {"tags": [{"key": "a", "value": "b"}]}
    assert [api.post(log, body, format="json").status_code for _ in range(2)] == [204, 204]
    assert api.post(log, body, format="json").status_code == 429
    # Reads are a separate bucket: logging hard does not lock the pages out.
    assert api.get(f"{API}/runs/{run.run_id}/").status_code == 200


def test_an_unknown_api_address_is_a_json_404_and_anonymous_is_401(alice_token):
    response = client_for(alice_token[1]).get(f"{API}/no/such/thing/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert APIClient().get(f"{API}/no/such/thing/").status_code == 401


def test_the_mlflow_api_keeps_its_own_error_shape(alice_token):
    response = client_for(alice_token[1]).get("/api/2.0/mlflow/runs/get", {"run_id": "0" * 32})
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
