"""The WSGI module gunicorn loads: start-up objects are frozen out of garbage collection."""

from tests.fresh_process import run_with_settings

PROBE = """
import gc, sys
import mlplatform.wsgi
print(gc.get_freeze_count(), "tracking.mlflow_api.runs" in sys.modules)
"""


def test_wsgi_module_imports_views_and_freezes_startup_objects(tmp_path):
    result = run_with_settings(PROBE, tmp_path)
    assert result.returncode == 0, result.stderr
    frozen, views_loaded = result.stdout.split()
    # Django and the project's modules alone are tens of thousands of objects.
    assert int(frozen) > 20_000
    assert views_loaded == "True"
