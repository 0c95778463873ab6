"""Root URLconf: pages, admin, the native API, the MLflow-compatible API and health."""

from django.contrib import admin
from django.urls import include, path

from mlplatform.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("frontend.urls")),
]
