"""Test settings: production settings with a throw-away data directory and a fast hasher."""

import os
import tempfile

# Before the real settings read it, so tests never touch a developer's own data directory.
os.environ.setdefault("MLPLATFORM_DATA_DIR", tempfile.mkdtemp(prefix="mlplatform-test-"))

from mlplatform.settings import *  # noqa: F403
from mlplatform.settings import DATA_DIR, DATABASES

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
