"""The server's own endpoints a client probes: `/health` and `server-info`."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def health(request) -> HttpResponse:
    return HttpResponse("OK", content_type="text/plain")


@never_cache
@require_GET
def server_info(request) -> JsonResponse:
    # Public, as MLflow's: only what a client needs to pick its code paths, nothing about data.
    return JsonResponse(
        {
            "store_type": None,
            "workspaces_enabled": False,
            "trace_archival_enabled": False,
            "multipart_uploads_enabled": False,
            "multipart_downloads_enabled": False,
            "presigned_upload_run_id_supported": False,
            "presigned_upload_model_id_supported": False,
            "features_enabled": {"gateway": False},
        }
    )
