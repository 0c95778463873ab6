"""The glue every MLflow endpoint shares: authentication, MLflow's error shape, request fields."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication

from accounts.access import Actor, projects_for, require_role, token_project_allowing
from accounts.authentication import ApiTokenAuthentication
from accounts.models import Project, Role
from mlplatform.db.errors import UNAVAILABLE_MESSAGE, database_unavailable
from tracking.errors import AlreadyExists, InvalidInput, NotFound, Unavailable
from tracking.mlflow_api.wire import Fields, dumps
from tracking.models import DEFAULT_EXPERIMENT_NAME, Experiment, Run
from tracking.search import SearchError
from tracking.selectors.lookups import experiment_for_user, run_for_user
from tracking.validation import experiment_pks, parse_pk

logger = logging.getLogger(__name__)

INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
PERMISSION_DENIED = "PERMISSION_DENIED"
UNAUTHENTICATED = "UNAUTHENTICATED"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
REQUEST_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"
TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"


def json_response(payload: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(dumps(payload), status=status, content_type="application/json")


def error_response(code: str, message: str, status: int) -> HttpResponse:
    return json_response({"error_code": code, "message": message}, status=status)


def error_for(exc: Exception) -> HttpResponse | None:
    """MLflow's error body for an exception, or None when it is a genuine server fault."""
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = error_response(UNAUTHENTICATED, str(exc.detail), 401)
        response["WWW-Authenticate"] = 'Bearer realm="mlplatform"'
        return response
    if isinstance(exc, InvalidInput | SearchError):
        return error_response(INVALID_PARAMETER_VALUE, str(exc), 400)
    if isinstance(exc, AlreadyExists):
        return error_response(RESOURCE_ALREADY_EXISTS, exc.message, 400)
    if isinstance(exc, NotFound):
        return error_response(RESOURCE_DOES_NOT_EXIST, exc.message, 404)
    if isinstance(exc, Unavailable):
        return error_response(TEMPORARILY_UNAVAILABLE, exc.message, 503)
    if isinstance(exc, Http404 | exceptions.NotFound):
        return error_response(RESOURCE_DOES_NOT_EXIST, str(exc) or "Not found.", 404)
    if isinstance(exc, PermissionDenied | exceptions.PermissionDenied):
        return error_response(PERMISSION_DENIED, str(exc) or "Permission denied.", 403)
    if isinstance(exc, RequestDataTooBig):
        return error_response(INVALID_PARAMETER_VALUE, "The request body is too large.", 400)
    if isinstance(exc, SuspiciousOperation):
        return error_response(INVALID_PARAMETER_VALUE, "The request is malformed.", 400)
    if isinstance(exc, exceptions.MethodNotAllowed):
        return error_response(ENDPOINT_NOT_FOUND, str(exc.detail), 405)
    if isinstance(exc, exceptions.Throttled):
        response = error_response(REQUEST_LIMIT_EXCEEDED, str(exc.detail), 429)
        if exc.wait is not None:
            response["Retry-After"] = str(int(exc.wait))
        return response
    if isinstance(exc, exceptions.APIException) and exc.status_code < 500:
        return error_response(INVALID_PARAMETER_VALUE, str(exc.detail), exc.status_code)
    if database_unavailable(exc):
        # The client retries a 503 with backoff; the write it carried never committed.
        logger.warning("Database unavailable: %s", type(exc).__name__)
        response = error_response(TEMPORARILY_UNAVAILABLE, UNAVAILABLE_MESSAGE, 503)
        response["Retry-After"] = "1"
        return response
    return None


Handler = Callable[[object, Fields, Actor], dict]


class MlflowEndpoint(View):
    """One MLflow REST endpoint: `handler(request, fields, actor)` returns the response body.

    A plain Django view rather than DRF's APIView: MLflow's protocol needs none of DRF's
    negotiation, parsers or renderers, and skipping them is a good part of what a one-point
    log-metric costs. Authentication is DRF's, through the same classes as the native API.
    """

    # The body is parsed here: MLflow's JSON may carry NaN and Infinity.
    handler: Handler | None = None
    http_method_names = ["get", "post", "patch", "delete"]
    _token_auth = ApiTokenAuthentication()
    _session_auth = SessionAuthentication()

    @method_decorator(csrf_exempt)
    def dispatch(self, request, *args, **kwargs):
        try:
            actor = self._authenticate(request)
            method = request.method.lower()
            if method not in self.http_method_names:
                raise exceptions.MethodNotAllowed(request.method)
            if method == "options":
                return self.options(request, *args, **kwargs)
            return getattr(self, method)(request, actor, *args, **kwargs)
        except Exception as exc:
            response = error_for(exc)
            if response is None:
                raise
            return response

    def get(self, request, actor: Actor, *args, **kwargs) -> HttpResponse:
        return json_response(self.handler(request, Fields.from_query(request), actor))

    def post(self, request, actor: Actor, *args, **kwargs) -> HttpResponse:
        return json_response(self.handler(request, Fields.from_json(request.body), actor))

    patch = post
    delete = post

    def _authenticate(self, request) -> Actor:
        """A token if the request carries one, else the browser session (with its CSRF check,
        as DRF's SessionAuthentication does); 401 for anyone else."""
        actor = self._identify(request)
        if actor.token is None:
            # Unsafe methods from a session need the CSRF token, like every form of the site.
            self._session_auth.enforce_csrf(request)
        return actor

    def _identify(self, request) -> Actor:
        found = self._token_auth.authenticate(request)
        if found is not None:
            user, token = found
            request.user = user
            return Actor(user=user, token=token)
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            raise exceptions.NotAuthenticated()
        return Actor(user=user)


def endpoint(handler: Handler, *methods: str):
    return MlflowEndpoint.as_view(handler=handler, http_method_names=[*methods, "options"])


def token_project(actor: Actor) -> Project:
    """The project of the actor's token; MLflow's calls without an id need one."""
    if actor.token is None:
        raise InvalidInput(
            "This endpoint works on the project of an API token: set MLFLOW_TRACKING_TOKEN to a "
            "token of the project (create one in the project's settings).",
            field="Authorization",
        )
    project = actor.token.project
    require_role(actor=actor, project=project)
    return project


def experiment_by_id(actor: Actor, experiment_id: str, need: Role = Role.VIEWER) -> Experiment:
    """The experiment for MLflow's id; "0" is the Default experiment of the token's project."""
    if experiment_id == "0":
        project = token_project(actor)
        require_role(actor=actor, project=project, need=need)
        experiment = (
            Experiment.objects.select_related("project")
            .filter(project=project, name=DEFAULT_EXPERIMENT_NAME)
            .first()
        )
        if experiment is None:
            raise NotFound("This project has no Default experiment.")
        return experiment
    pk = parse_pk(experiment_id)
    if pk is None:
        raise NotFound(f"No experiment with id '{experiment_id[:50]}'.")
    return experiment_for_user(actor=actor, experiment_id=pk, need=need)


def experiments_by_ids(actor: Actor, ids: list) -> QuerySet[Experiment]:
    """The experiments among MLflow's ids that the actor may see ("0" is the token project's
    Default); InvalidInput for a value that cannot be an id."""
    ids = [str(value) for value in ids]
    pks = experiment_pks([value for value in ids if value != "0"])
    if "0" in ids:
        pks.append(experiment_by_id(actor, "0").pk)
    return Experiment.objects.filter(pk__in=pks, project__in=projects_for(actor=actor))


def experiment_scope(actor: Actor, ids: list) -> tuple[list[int], int | None]:
    """What a search of MLflow's experiment ids may read: experiment pks, sorted, and the
    project they must be in, or None when the pks are already the visible ones.

    A token whose role came with it (every MLflow client's case) reads its own project, which
    the search's query checks itself; anyone else's experiments are looked up first.
    """
    ids = [str(value) for value in ids]
    project_id = token_project_allowing(actor, Role.VIEWER)
    if project_id is None or "0" in ids:
        return sorted(experiments_by_ids(actor, ids).values_list("pk", flat=True)), None
    return sorted(set(experiment_pks(ids))), project_id


def run_id_of(fields: Fields) -> str:
    run_id = fields.str("run_id") or fields.str("run_uuid")
    if not run_id:
        raise InvalidInput("Missing value for required parameter 'run_id'.", field="run_id")
    return run_id


def run_of(fields: Fields, actor: Actor, need: Role = Role.VIEWER) -> Run:
    run_id = run_id_of(fields)
    try:
        return run_for_user(actor=actor, run_id=run_id, need=need)
    except Http404:
        # MLflow's words, which scripts match on.
        raise NotFound(f"Run with id={run_id} not found") from None


class UnknownEndpoint(MlflowEndpoint):
    """Anything else under MLflow's prefixes: strangers get 401 first, like everywhere, then 404.

    Exempt from CSRF and with no CSRF check of its own: it changes nothing, and the client
    probes endpoints a server may lack (logged models, traces) with POSTs and falls back on 404.
    """

    http_method_names = ["get", "post", "put", "patch", "delete", "options", "head"]

    @method_decorator(csrf_exempt)
    def dispatch(self, request, *args, **kwargs):
        try:
            self._identify(request)
        except Exception as exc:
            response = error_for(exc)
            if response is None:
                raise
            return response
        return error_response(ENDPOINT_NOT_FOUND, f"No MLflow endpoint at {request.path}.", 404)


not_found_view = UnknownEndpoint.as_view()
