"""A thin keep-alive HTTP client speaking MLflow's REST wire protocol.

http.client rather than `requests`: the client's own overhead must stay small next to the
server time it measures, and one connection per client process is reused across requests.
"""

from __future__ import annotations

import http.client
import json
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

MLFLOW = "/api/2.0/mlflow"


class HttpError(Exception):
    """A response outside 2xx that the workload did not expect."""

    def __init__(self, method: str, path: str, status: int, body: bytes):
        # All four in args, so the exception survives pickling back from a client process.
        super().__init__(method, path, status, body)
        self.status = status
        self.body = body

    def __str__(self) -> str:
        method, path, status, body = self.args
        return f"{method} {path} -> {status}: {body[:300].decode(errors='replace')}"


class EndpointMissing(Exception):
    """The server has no such URL at all (a 404 that is not the API's own JSON error)."""


class Client:
    """One keep-alive connection to a server, reconnecting when the server closes it."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 300.0):
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.cookies: dict[str, str] = {}
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def raw(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: dict | list | None = None,
        headers: dict | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        url = self.prefix + path
        if params:
            url += "?" + urlencode(params, doseq=True)
        all_headers = dict(self.headers)
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if headers:
            all_headers.update(headers)
        # A server may close an idle keep-alive connection (gunicorn's sync workers close every
        # one); the first attempt on a stale connection then fails before anything was sent.
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.request(method, url, body=body, headers=all_headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            for header in response.headers.get_all("Set-Cookie") or []:
                cookie = SimpleCookie()
                cookie.load(header)
                self.cookies.update({name: morsel.value for name, morsel in cookie.items()})
            return response.status, response.headers, data
        raise AssertionError("unreachable")

    def call(
        self, method: str, path: str, payload: dict | None = None, params: dict | None = None
    ) -> dict:
        """A JSON request; raises EndpointMissing for an unknown URL, HttpError for the rest."""
        body = json.dumps(payload).encode() if payload is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else None
        status, response_headers, data = self.raw(
            method, path, body=body, params=params, headers=headers
        )
        if 200 <= status < 300:
            return json.loads(data) if data else {}
        if status == 404 and (
            "json" not in (response_headers.get("Content-Type") or "")
            or b"ENDPOINT_NOT_FOUND" in data
        ):
            raise EndpointMissing(f"{method} {path}")
        raise HttpError(method, path, status, data)

    def timed_get(self, path: str, params: dict | None = None) -> float:
        """Seconds for one GET that must succeed (a page or chart data)."""
        started = time.perf_counter()
        status, _, data = self.raw("GET", path, params=params)
        elapsed = time.perf_counter() - started
        if status == 404:
            raise EndpointMissing(f"GET {path}")
        if not 200 <= status < 300:
            raise HttpError("GET", path, status, data)
        return elapsed

    def login(self, username: str, password: str, path: str = "/accounts/login/") -> None:
        """A browser session through Django's login form, for the page figures."""
        status, _, data = self.raw("GET", path)
        if status == 404:
            raise EndpointMissing(f"GET {path}")
        marker = b'name="csrfmiddlewaretoken" value="'
        start = data.find(marker)
        if start < 0:
            raise HttpError("GET", path, status, data)
        start += len(marker)
        csrf = data[start : data.find(b'"', start)].decode()
        form = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf})
        status, _, data = self.raw(
            "POST",
            path,
            body=form.encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"http://{self.host}:{self.port}{self.prefix}{path}",
            },
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise HttpError("POST", path, status, data)
        # Pages are browsed with the session alone, as a person's browser does.
        self.headers.pop("Authorization", None)


class MlflowApi:
    """The MLflow REST calls the workload makes."""

    def __init__(self, client: Client):
        self.client = client

    def create_experiment(self, name: str) -> str:
        return self.client.call("POST", f"{MLFLOW}/experiments/create", {"name": name})[
            "experiment_id"
        ]

    def create_run(self, experiment_id: str, name: str) -> str:
        payload = {
            "experiment_id": experiment_id,
            "run_name": name,
            "start_time": int(time.time() * 1000),
        }
        return self.client.call("POST", f"{MLFLOW}/runs/create", payload)["run"]["info"]["run_id"]

    def log_batch(
        self,
        run_id: str,
        metrics: list[dict] | None = None,
        params: list[dict] | None = None,
        tags: list[dict] | None = None,
    ) -> None:
        payload = {
            "run_id": run_id,
            "metrics": metrics or [],
            "params": params or [],
            "tags": tags or [],
        }
        self.client.call("POST", f"{MLFLOW}/runs/log-batch", payload)

    def log_metric(self, run_id: str, key: str, value: float, step: int) -> None:
        payload = {
            "run_id": run_id,
            "key": key,
            "value": value,
            "timestamp": int(time.time() * 1000),
            "step": step,
        }
        self.client.call("POST", f"{MLFLOW}/runs/log-metric", payload)

    def finish_run(self, run_id: str) -> None:
        payload = {"run_id": run_id, "status": "FINISHED", "end_time": int(time.time() * 1000)}
        self.client.call("POST", f"{MLFLOW}/runs/update", payload)

    def search_runs(
        self, experiment_id: str, filter_string: str, order_by: list[str], max_results: int
    ) -> list[dict]:
        payload = {
            "experiment_ids": [experiment_id],
            "filter": filter_string,
            "order_by": order_by,
            "max_results": max_results,
        }
        return self.client.call("POST", f"{MLFLOW}/runs/search", payload).get("runs", [])

    def metric_history(self, run_id: str, key: str, page_size: int = 25000) -> int:
        """Points of the full history, following page tokens; returns how many came back."""
        count = 0
        params = {"run_id": run_id, "metric_key": key, "max_results": page_size}
        while True:
            response = self.client.call("GET", f"{MLFLOW}/metrics/get-history", params=params)
            count += len(response.get("metrics", []))
            token = response.get("next_page_token")
            if not token:
                return count
            params = {**params, "page_token": token}

    def metric_history_interval(self, run_id: str, key: str, max_results: int) -> int:
        """MLflow's downsampled series (what its UI charts ask for); returns the point count."""
        params = {"run_ids": run_id, "metric_key": key, "max_results": max_results}
        path = f"{MLFLOW}/metrics/get-history-bulk-interval"
        return len(self.client.call("GET", path, params=params).get("metrics", []))
