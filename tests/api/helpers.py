"""Small helpers of the native API tests."""

from rest_framework.test import APIClient

from accounts.access import Actor
from tracking.batch import MetricIn, ParamIn, TagIn
from tracking.services.ingest import run_log_batch
from tracking.services.runs import run_create

API = "/api/v1"


def client_for(raw_token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    return client


def make_run(user, experiment, name="run", metrics=None, params=None, tags=None, start_time=None):
    """A run of `user`, with {key: value} metrics (step 0), params and tags logged."""
    run = run_create(
        actor=Actor(user=user), experiment=experiment, name=name, start_time=start_time
    )
    run_log_batch(
        run=run,
        metrics=[
            MetricIn(key=k, value=v, timestamp=1_000, step=0) for k, v in (metrics or {}).items()
        ],
        params=[ParamIn(key=k, value=v) for k, v in (params or {}).items()],
        tags=[TagIn(key=k, value=v) for k, v in (tags or {}).items()],
    )
    return run


def error_fields(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]["fields"]
