"""Test settings: production settings with a throw-away data directory and a fast hasher.

Under pytest-xdist each worker gets its own data directory and its own Redis database, the
configured one plus the worker's number, so workers never share a SQLite file, the embedded
broker, the cache or the dirty-run marks. Processes the tests start inherit both.
"""

import os
import tempfile
from urllib.parse import urlsplit, urlunsplit


def worker_redis_url(url: str, worker: int) -> str:
    """`url` with its database number moved up by the worker's number (gw0, gw1, ...)."""
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + worker}"))


# Workers inherit the controlling process's environment, data directory included; the marker
# keeps a process that a worker starts with these settings from moving again.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker and os.environ.get("MLPLATFORM_TEST_WORKER") != _worker:
    os.environ["MLPLATFORM_TEST_WORKER"] = _worker
    os.environ["MLPLATFORM_DATA_DIR"] = tempfile.mkdtemp(prefix=f"mlplatform-test-{_worker}-")
    if os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = worker_redis_url(os.environ["REDIS_URL"], int(_worker[2:]))

# Before the real settings read it, so tests never touch a developer's own data directory.
os.environ.setdefault("MLPLATFORM_DATA_DIR", tempfile.mkdtemp(prefix="mlplatform-test-"))

from mlplatform.settings import *  # noqa: E402, F403
from mlplatform.settings import DATA_DIR, DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so server and worker processes started by tests share the database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

# Live-server request threads end without closing a persistent connection, which would keep
# PostgreSQL from dropping the test database at the end; close every connection per request.
DATABASES["default"]["CONN_MAX_AGE"] = 0

# Many tests send bad tokens on purpose from the same address within a minute; the limit on
# failed token authentications is tested on its own (tests/security/test_token_bruteforce.py).
MLPLATFORM_TOKEN_FAILURE_LIMIT = 0
