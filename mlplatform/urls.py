"""Root URLconf: pages, admin, the native API, the MLflow-compatible API and health."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import IsAuthenticated

from mlplatform.api.base import EndpointNotFoundView
from mlplatform.health import healthz
from tracking.mlflow_api import ajax_views
from tracking.mlflow_api.base import not_found_view
from tracking.mlflow_api.server import health, server_info

# Like every other route, the schema and its docs are for signed-in callers only.
API_DOCS = {"permission_classes": [IsAuthenticated]}

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("health", health, name="health"),
    # Tracking's routes first: the client calls them most. Neither ends with a catch-all.
    path("api/2.0/mlflow/", include("tracking.mlflow_api.urls")),
    path("api/2.0/mlflow/", include("registry.mlflow_api")),
    path("api/2.0/mlflow-artifacts/", include("tracking.mlflow_api.artifact_urls")),
    path("api/3.0/mlflow/server-info", server_info, name="mlflow-server-info"),
    # MLflow's server answers every endpoint under /ajax-api too (its web UI calls those), plus
    # a few routes only there.
    path("ajax-api/2.0/mlflow/", include("tracking.mlflow_api.ajax_urls")),
    path("ajax-api/2.0/mlflow/", include("registry.mlflow_api")),
    path("ajax-api/2.0/mlflow-artifacts/", include("tracking.mlflow_api.artifact_urls")),
    path("ajax-api/3.0/mlflow/server-info", server_info, name="mlflow-server-info-ajax"),
    path("get-artifact", ajax_views.get_artifact),
    # Anything else under MLflow's prefixes (3.0 traces, ...) is an unknown endpoint, in JSON.
    re_path(r"^(ajax-)?api/[0-9]+\.[0-9]+/mlflow", not_found_view),
    path("admin/", admin.site.urls),
    path("", include("registry.urls")),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("tracking.api.urls")),
    path("api/v1/", include("registry.api_urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(**API_DOCS), name="api-schema"),
    path(
        "api/v1/docs/",
        # Our copy of its page carries the Content-Security-Policy nonce.
        SpectacularSwaggerView.as_view(
            url_name="api-schema", template_name="api/swagger_ui.html", **API_DOCS
        ),
        name="api-docs",
    ),
    re_path(r"^api/v1/", EndpointNotFoundView.as_view(), name="api-not-found"),
    path("", include("frontend.urls")),
]

handler404 = "frontend.views.errors.not_found"
handler403 = "frontend.views.errors.forbidden"
handler500 = "frontend.views.errors.server_error"
