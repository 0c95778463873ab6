"""The search package's layout: the grammar and parser stand alone, without Django."""

import subprocess
import sys


def test_the_parser_imports_and_parses_without_django():
    script = (
        "import sys\n"
        "from tracking.search.parser import parse_filter\n"
        "assert parse_filter(\"metrics.acc > 0.9 and params.lr = '0.01'\")\n"
        "loaded = [m for m in sys.modules if m == 'django' or m.startswith('django.')]\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
