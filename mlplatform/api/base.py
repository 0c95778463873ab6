"""What every native API view shares: error shape, throttles, and errors in the schema."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .exceptions import native_exception_handler
from .parsers import NativeJSONParser
from .throttles import NativeScopedThrottle


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="invalid, not_authenticated, permission_denied, not_found, already_exists, "
        "throttled, method_not_allowed, not_acceptable, unsupported_media_type."
    )
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="For `invalid`: the messages of each field that is wrong.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_ERRORS = {
    "400": "Invalid input; `error.fields` names what is wrong.",
    "401": "No credentials, or invalid ones.",
    "403": "The caller can see the project but lacks the role (or token scope) to do this.",
    "404": "No such object, or the caller cannot see its project.",
    "409": "The object exists already.",
    "429": "Too many requests; retry after `Retry-After` seconds.",
}


class NativeAutoSchema(AutoSchema):
    """Adds the documented error responses to every operation of the native API."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        ref = self.resolve_serializer(ErrorSerializer, "response").ref
        for code, description in _ERRORS.items():
            if code == "409" and self.method in ("GET", "DELETE"):
                continue
            responses.setdefault(
                code,
                {"content": {"application/json": {"schema": ref}}, "description": description},
            )
        responses["429"]["headers"] = {
            "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
        }
        return responses


class NativeAPIView(APIView):
    """Base of the native API's views; authentication and permissions are the settings'."""

    schema = NativeAutoSchema()
    throttle_classes = [NativeScopedThrottle]
    # None: safe methods count against `read`, the others against `log`.
    throttle_scope: str | None = None
    # OPTIONS would describe views by their serializers; the schema at /api/v1/schema/ does.
    metadata_class = None
    parser_classes = [NativeJSONParser, FormParser, MultiPartParser]

    def get_exception_handler(self):
        return native_exception_handler

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        # Errors are JSON, whatever an endpoint's success format is (CSV, a file).
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


def only_native_api(endpoints: list) -> list:
    """drf-spectacular hook: the schema documents the native API; MLflow's has its own docs."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]


class EndpointNotFoundView(NativeAPIView):
    """Any other address under /api/v1/: a 404 in the API's error shape, not the HTML page."""

    schema = None

    def _not_found(self, request: Request, *args, **kwargs) -> Response:
        raise Http404("No API endpoint at this address.")

    get = post = put = patch = delete = _not_found
