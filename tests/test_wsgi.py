"""The WSGI module gunicorn loads: start-up objects are frozen out of garbage collection."""

import subprocess
import sys

from django.conf import settings

PROBE = """
import gc, sys
import mlplatform.wsgi
print(gc.get_freeze_count(), "tracking.mlflow_api.runs" in sys.modules)
"""


def test_wsgi_module_imports_views_and_freezes_startup_objects(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "mlplatform.settings",
        "MLPLATFORM_DATA_DIR": str(tmp_path),
        "SECRET_KEY": "wsgi-test-" + "x" * 40,
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    frozen, views_loaded = result.stdout.split()
    # Django and the project's modules alone are tens of thousands of objects.
    assert int(frozen) > 20_000
    assert views_loaded == "True"
