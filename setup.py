"""Build hook: fetch the pages' browser libraries from npm and ship them as package data.

Everything else lives in pyproject.toml. The libraries are never committed, so every build
(`pip install .`, `pip install -e .`, a wheel) runs npm in frontend/ and copies the few files the
pages load into frontend/static/vendor/, where Django's staticfiles (whitenoise) serves them.
"""

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

FRONTEND = Path(__file__).resolve().parent / "frontend"
VENDOR = FRONTEND / "static" / "vendor"
# (file inside node_modules, name under static/vendor/)
ASSETS = [
    ("htmx.org/dist/htmx.min.js", "htmx.min.js"),
    ("uplot/dist/uPlot.iife.min.js", "uPlot.iife.min.js"),
    ("uplot/dist/uPlot.min.css", "uPlot.min.css"),
]


class BuildFrontendError(SystemExit):
    pass


def build_frontend_assets() -> None:
    """Run npm in frontend/ and copy the vendored files into frontend/static/vendor/."""
    npm = shutil.which("npm")
    if npm is None:
        raise BuildFrontendError(
            "mlplatform: npm was not found on PATH. The web pages need htmx and uPlot from the "
            "npm registry at build time; install Node.js 18+ with npm (e.g. `apt-get install "
            "nodejs npm`) and run the install again."
        )
    has_lock = (FRONTEND / "package-lock.json").exists()
    command = [npm, "ci" if has_lock else "install", "--no-audit", "--no-fund"]
    try:
        subprocess.run(command, cwd=FRONTEND, check=True)
    except subprocess.CalledProcessError as exc:
        raise BuildFrontendError(
            f"mlplatform: `{' '.join(command[1:])}` failed in {FRONTEND} (exit {exc.returncode}); "
            "see npm's output above."
        ) from exc
    VENDOR.mkdir(parents=True, exist_ok=True)
    for source, name in ASSETS:
        path = FRONTEND / "node_modules" / source
        if not path.exists():
            raise BuildFrontendError(f"mlplatform: npm did not produce {path}.")
        shutil.copyfile(path, VENDOR / name)


class BuildPyWithFrontend(build_py):
    """build_py that first fetches the browser libraries, also for editable installs."""

    def run(self) -> None:
        build_frontend_assets()
        # The package-data file list may have been computed before the vendor files existed.
        self.__dict__.pop("data_files", None)
        super().run()


setup(cmdclass={"build_py": BuildPyWithFrontend})
