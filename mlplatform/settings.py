"""MLPlatform settings, read from the environment only (the README's configuration table)."""

import contextlib
import os
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def private_dir(path: Path) -> Path:
    """Create the folder for its owner alone (0700) unless it exists; an existing folder keeps
    the mode its owner gave it. The data directory holds the secret key and the database."""
    try:
        path.mkdir(parents=True, mode=0o700)
    except FileExistsError:
        return path
    path.chmod(0o700)  # mkdir's mode goes through the umask
    return path


def private_file(path: Path) -> Path:
    """Create the empty file for its owner alone (0600) unless it exists. SQLite then keeps the
    database in it, and gives its journal and WAL files the same mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MLPLATFORM_DATA_DIR") or Path.home() / ".mlplatform").expanduser()
private_dir(DATA_DIR)


def _secret_key() -> str:
    """The configured key, or one generated once and kept in the data directory.

    A key baked into the source would let anyone who read it forge sessions, so there is none.
    """
    configured = os.environ.get("SECRET_KEY")
    if configured:
        return configured
    path = DATA_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(50)
    # O_EXCL: when several processes start at once, the first one's key wins for all of them.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "csp",
    "accounts",
    "tracking",
    "registry",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "mlplatform.csp.PageCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.audit.AuditContextMiddleware",
    # Last, as django-axes asks, so it sees the outcome of every login attempt.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mlplatform.urls"
WSGI_APPLICATION = "mlplatform.wsgi.application"
ASGI_APPLICATION = "mlplatform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
if not os.environ.get("DATABASE_URL"):
    # Sessions live in it: created here for its owner alone before SQLite creates it as 0644.
    private_file(DATA_DIR / "db.sqlite3")
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        # A new connection cost its first request 6 to 10 ms more, and the next ones their
        # statements' planning (PostgreSQL's caches and the prepared statements start empty).
        # The health check (below, and mlplatform/db) replaces one the database dropped.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default has a web server and a worker writing to one file: WAL lets readers
    # go on during a write, IMMEDIATE avoids the lock-upgrade deadlock between two writers.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's, with a health check that skips connections in steady use (mlplatform/db).
    DATABASES["default"]["ENGINE"] = "mlplatform.db.postgresql"
    # Added to what DATABASE_URL's query string set (sslmode, options), never in its place.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    # A request's statements are short, and starting parallel workers costs more than they do:
    # the details of a 100-run search page took 10 ms with two workers, 3 ms without. Sent at
    # connection start-up; empty leaves the server's setting (PgBouncer refuses the option).
    _parallel = os.environ.get("DB_PARALLEL_WORKERS", "0").strip()
    if _parallel:
        if not (_parallel.isascii() and _parallel.isdigit()):
            raise ImproperlyConfigured("DB_PARALLEL_WORKERS must be a whole number or empty.")
        _options["options"] = " ".join(
            filter(
                None, [_options.get("options"), f"-c max_parallel_workers_per_gather={_parallel}"]
            )
        )
    if env_bool("DB_PREPARED_STATEMENTS", True):
        # Parameters travel apart from the SQL, and a statement run five times on a connection
        # is prepared: the write and search statements are then planned once per connection
        # instead of on every request, which was half of PostgreSQL's time for a log-metric.
        # Off for a pooler in transaction mode that cannot keep prepared statements.
        _options.update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Identity -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
MLPLATFORM_SIGNUP_ENABLED = env_bool("MLPLATFORM_SIGNUP_ENABLED")
MLPLATFORM_PROJECT_CREATION_STAFF_ONLY = env_bool("MLPLATFORM_PROJECT_CREATION_STAFF_ONLY")

# Lock out a username only from the address that failed, so an attacker elsewhere cannot lock
# a real user out of their own account.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
# Reverse proxies in front of the web nodes; the client address is read past them for lockouts,
# the audit trail and the limit on failed token authentications (accounts.audit.client_address).
MLPLATFORM_PROXY_COUNT = env_int("MLPLATFORM_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "accounts.audit.client_address"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# --- HTTPS (production) ---------------------------------------------------------------------
SECURE_SSL = env_bool("SECURE_SSL")
if SECURE_SSL:
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Health checks come from the load balancer over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^health$"]
# Content-Security-Policy on every page (django-csp, through mlplatform.csp, which leaves out
# JSON answers): scripts and styles only from this site or with the request's nonce
# (`request.csp_nonce`), so an injected script cannot run.
# Pages keep their scripts in static files; an inline <script> must carry the nonce.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        # Artifact previews and uPlot's legend markers; the API docs draw icons from data: URIs.
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Static files and artifacts -------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# WhiteNoise warns in every worker when this folder is missing, even though it serves from finders.
STATIC_ROOT.mkdir(exist_ok=True)
# Served straight from the installed packages, so `pip install` plus one command is enough.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
ARTIFACTS_ROOT = Path(os.environ.get("MLPLATFORM_ARTIFACTS_DIR") or DATA_DIR / "artifacts")
ARTIFACTS_BACKEND = os.environ.get("MLPLATFORM_ARTIFACTS_BACKEND", "")


def _artifact_storage_options() -> dict:
    if not ARTIFACTS_BACKEND:
        return {
            "location": str(ARTIFACTS_ROOT),
            # What training jobs upload is for the project's members, through the app only.
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        }
    if ARTIFACTS_BACKEND.startswith("storages.backends.s3"):
        # django-storages reads these from settings, and settings come from the environment.
        # Credentials stay with boto3, which reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY itself.
        names = {
            "bucket_name": "AWS_STORAGE_BUCKET_NAME",
            "endpoint_url": "AWS_S3_ENDPOINT_URL",
            "region_name": "AWS_S3_REGION_NAME",
            "location": "AWS_LOCATION",
        }
        return {opt: os.environ[env] for opt, env in names.items() if os.environ.get(env)}
    return {}


STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "artifacts": {
        "BACKEND": ARTIFACTS_BACKEND or "django.core.files.storage.FileSystemStorage",
        "OPTIONS": _artifact_storage_options(),
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Redis, cache and Celery ----------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "mlplatform.cache.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
else:
    # Shared by the web and worker processes of the embedded default, with no server needed.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }
    CELERY_BROKER_URL = "filesystem://"
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Otherwise kombu puts its broadcast exchange files in the current directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Stale summaries are re-queued this often, so a lost message only delays a summary.
MLPLATFORM_SUMMARY_RECONCILE_SECONDS = float(
    os.environ.get("MLPLATFORM_SUMMARY_RECONCILE_SECONDS") or 30
)
# How long a queued summary blocks enqueueing another for the same run; a lost message is
# replaced by the reconciler after at most this long.
MLPLATFORM_SUMMARY_PENDING_TTL = env_int("MLPLATFORM_SUMMARY_PENDING_TTL", 600)
# Seconds a summary waits after the write that queued it, so the writes of that moment share
# one summary instead of each queueing its own (a training loop logs many times a second).
MLPLATFORM_SUMMARY_DELAY = float(os.environ.get("MLPLATFORM_SUMMARY_DELAY") or 0.5)
# The longest a verified API token is trusted from a process's cache without reading it again;
# revocations and membership changes made through the app reach every process at once anyway
# (accounts.token_cache). 0 turns the cache off.
MLPLATFORM_TOKEN_CACHE_SECONDS = float(os.environ.get("MLPLATFORM_TOKEN_CACHE_SECONDS") or 10)
# Failed API token authentications allowed per client address (MLPLATFORM_PROXY_COUNT decides
# which address) in each window of this many seconds; past it, token requests from the address
# get 429 until the window ends. 0 turns the limit off.
MLPLATFORM_TOKEN_FAILURE_LIMIT = env_int("MLPLATFORM_TOKEN_FAILURE_LIMIT", 50)
MLPLATFORM_TOKEN_FAILURE_WINDOW = env_int("MLPLATFORM_TOKEN_FAILURE_WINDOW", 60)
# Purged artifacts are deleted by a task at once; a deletion still pending after this many
# seconds (a lost message, a broker that was down, a storage that kept failing) is queued again.
MLPLATFORM_ARTIFACT_CLEANUP_SECONDS = env_int("MLPLATFORM_ARTIFACT_CLEANUP_SECONDS", 600)
CELERY_BEAT_SCHEDULE: dict = {
    "reconcile-summaries": {
        "task": "tracking.tasks.reconcile_summaries",
        "schedule": MLPLATFORM_SUMMARY_RECONCILE_SECONDS,
        # Behind a long backlog an old pass is useless: newer ones are already queued.
        "options": {"expires": max(60, 2 * MLPLATFORM_SUMMARY_RECONCILE_SECONDS)},
    },
    "requeue-artifact-deletions": {
        "task": "tracking.tasks.requeue_artifact_deletions",
        "schedule": MLPLATFORM_ARTIFACT_CLEANUP_SECONDS,
        "options": {"expires": MLPLATFORM_ARTIFACT_CLEANUP_SECONDS},
    },
}

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Deny by default: every API view is for authenticated callers unless it says otherwise.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "log": os.environ.get("MLPLATFORM_THROTTLE_LOG", "100000/min"),
        "read": os.environ.get("MLPLATFORM_THROTTLE_READ", "20000/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MLPlatform API",
    "DESCRIPTION": "Native REST API of MLPlatform.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "PREPROCESSING_HOOKS": ["mlplatform.api.base.only_native_api"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Runs and logged models both have a `status`, with different choices.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "tracking.models.RunStatus",
        "LoggedModelStatusEnum": "tracking.models.LoggedModelStatus",
    },
}

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},
    },
}
