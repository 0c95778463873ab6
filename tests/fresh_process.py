"""Python code run in a fresh process under the production settings, as a server starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.conf import settings


def run_with_settings(code: str, data_dir: Path, **environ: str) -> subprocess.CompletedProcess:
    """`code` run by this interpreter with mlplatform.settings, a data directory of its own and
    only `environ` beside; its output is captured, and a failure is returned, not raised."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "mlplatform.settings",
        "MLPLATFORM_DATA_DIR": str(data_dir),
        "SECRET_KEY": "fresh-process-" + "x" * 40,
        **environ,
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
