"""Settings shared by every environment; every value comes from the environment."""

from django.core.exceptions import ImproperlyConfigured

from convostore.env import BASE_DIR, env, required

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-dev-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "sessions_app.apps.ConvoStoreAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "sessions_app",
    "cache_app",
    "archive_app",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "convostore.observability.RequestContextMiddleware",
    "convostore.edge.EdgeMiddleware",  # every header, query and path parameter checked before anything reads them
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "convostore.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
# HTTP request series by view, method and status (django-prometheus), in buckets that fit a ~2 ms API.
PROMETHEUS_LATENCY_BUCKETS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.5, 5.0, 10.0, float("inf"))

ROOT_URLCONF = "convostore.urls"
WSGI_APPLICATION = "convostore.wsgi.application"
ASGI_APPLICATION = "convostore.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "convostore" / "templates"],
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

# Postgres is the system of record. Timeouts keep a sick database from hanging
# requests: a stuck statement or lock answers 503 instead.
# No default: a missing DATABASE_URL must never reach whatever Postgres listens on 127.0.0.1:5432.
DATABASES = {"default": env.db_url_config(required(
    "DATABASE_URL", "postgres://USER:PASSWORD@HOST:PORT/DB of a Postgres with pgvector (`make run` starts one)"))}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].update(
    {
        "connect_timeout": env.int("DATABASE_CONNECT_TIMEOUT", default=3),
        "options": "-c statement_timeout={} -c lock_timeout={}".format(
            env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=5000),
            env.int("DATABASE_LOCK_TIMEOUT_MS", default=3000),
        ),
    }
)
# Hot statements (the append) are prepared on the server once per connection; false behind PgBouncer in
# transaction mode older than 1.21 (docs/operations.md#pgbouncer). Django turns psycopg's preparation off;
# only convostore.postgres.prepared_cursor asks for it, statement by statement.
PREPARE_STATEMENTS = env.bool("CONVOSTORE_PREPARE_STATEMENTS", default=True)
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 5 if PREPARE_STATEMENTS else None
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=300)
# Django's backend with a health check that polls the socket instead of a SELECT 1 round trip (convostore.postgres).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "convostore.postgres"
# An optional streaming replica for reads that may be stale (admin lists, dashboard, archive_stats,
# export --from-replica); convostore.db_router sends everything else to the primary.
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = {**env.db("DATABASE_REPLICA_URL"), "ENGINE": DATABASES["default"]["ENGINE"], "OPTIONS": dict(DATABASES["default"]["OPTIONS"]),
                            "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"], "CONN_HEALTH_CHECKS": True,
                            "TEST": {"MIRROR": "default"}}
DATABASE_ROUTERS = ["convostore.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis layers: each has its own django-redis alias and may point at its own URL.
REDIS_URL = required("REDIS_URL", "redis://HOST:PORT/DB (`make run` starts one)")
_REDIS_OPTIONS = {
    "CLIENT_CLASS": "django_redis.client.DefaultClient",
    "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=0.25),
    "SOCKET_TIMEOUT": env.float("REDIS_SOCKET_TIMEOUT", default=0.25),
    "CONNECTION_POOL_KWARGS": {"retry_on_timeout": False, "health_check_interval": 30},
}


_CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


def _is_cluster(url):
    return url.split("://", 1)[0].lower() in _CLUSTER_SCHEMES


def _redis_cache(url):
    """A django-redis alias; redis+cluster://host:port[,host:port…] (no db number) selects a Redis Cluster."""
    options = dict(_REDIS_OPTIONS)
    if _is_cluster(url):
        if url.split("://", 1)[1].split("?", 1)[0].partition("/")[2].strip("/"):
            raise ImproperlyConfigured(f"{url.split('://')[0]}:// URLs carry no database number (Redis Cluster has only db 0)")
        options["CLIENT_CLASS"] = "cache_app.cluster.ClusterClient"
    return {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url, "OPTIONS": options}


CACHES = {
    "default": _redis_cache(env("REDIS_DEFAULT_URL", default=REDIS_URL)),
    "hot": _redis_cache(env("REDIS_HOT_URL", default=REDIS_URL)),
    "semantic": _redis_cache(env("REDIS_SEMANTIC_URL", default=REDIS_URL)),
    "embeddings": _redis_cache(env("REDIS_EMBEDDINGS_URL", default=REDIS_URL)),
}


def _broker_default(url):
    # The broker lives in its own database of the same Redis (db 1 when the
    # cache uses db 0) so flushing the cache never drops queued tasks.
    base, _, tail = url.rpartition("/")
    if tail.isdigit() and base.count("/") >= 2:
        return f"{base}/{(int(tail) + 1) % 16}"
    return url.rstrip("/") + "/1"


if _is_cluster(REDIS_URL) and not env("CELERY_BROKER_URL", default=""):
    raise ImproperlyConfigured(
        "REDIS_URL is a Redis Cluster: set CELERY_BROKER_URL to a plain Redis (redis://host:port/db) or RabbitMQ; "
        "the broker cannot live on a cluster"
    )
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=_broker_default(REDIS_URL))
if _is_cluster(CELERY_BROKER_URL):
    raise ImproperlyConfigured("CELERY_BROKER_URL cannot be a Redis Cluster: use a plain Redis or RabbitMQ")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# One beat schedules at a time: a second one waits on a Postgres advisory lock (convostore.beat).
CELERY_BEAT_SCHEDULER = "convostore.beat:LockedDatabaseScheduler"
# Queues by kind of work, so each kind can get its own workers (`celery worker -Q lifecycle`); a worker
# started without -Q consumes all three. Unrouted tasks go to "default".
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = {"default": {}, "lifecycle": {}, "memory": {}}
CELERY_TASK_ROUTES = {
    **{f"convostore.{name}": {"queue": "lifecycle"} for name in
       ("evict_idle", "enforce_hot_budget", "archive_sweep", "archive_conversation", "purge_expired")},
    **{f"convostore.{name}": {"queue": "memory"} for name in
       ("summarise_sweep", "summarise_conversation", "embed_sweep", "embed_conversation")},
    **{f"convostore.{name}": {"queue": "default"} for name in ("outbox_sweep", "idempotency_cleanup")},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / ".convostore" / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Twenty maximal items plus JSON overhead fit; larger bodies answer 413 JSON.
CONVOSTORE_MAX_ITEM_BYTES = env.int("CONVOSTORE_MAX_ITEM_BYTES", default=1024 * 1024)
CONVOSTORE_MAX_ITEMS_PER_APPEND = 20
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int(
    "DATA_UPLOAD_MAX_MEMORY_SIZE", default=CONVOSTORE_MAX_ITEMS_PER_APPEND * CONVOSTORE_MAX_ITEM_BYTES * 2 + 65536
)

CONVOSTORE = {
    "KEY_PREFIX": env("CONVOSTORE_KEY_PREFIX", default="cs"),
    "WINDOW_TTL_SECONDS": env.int("CONVOSTORE_WINDOW_TTL_SECONDS", default=3600),
    "RESPONSE_INDEX_TTL_SECONDS": env.int("CONVOSTORE_RESPONSE_INDEX_TTL_SECONDS", default=86400),
    "LRU_BUCKETS": env.int("CONVOSTORE_LRU_BUCKETS", default=16),
    "IDEMPOTENCY_TTL_SECONDS": env.int("CONVOSTORE_IDEMPOTENCY_TTL_SECONDS", default=86400),
    "TOMBSTONE_TTL_SECONDS": env.int("CONVOSTORE_TOMBSTONE_TTL_SECONDS", default=86400),
    "DEFAULT_WINDOW_SIZE": env.int("CONVOSTORE_DEFAULT_WINDOW_SIZE", default=64),
    "DEFAULT_TOKEN_BUDGET": env.int("CONVOSTORE_DEFAULT_TOKEN_BUDGET", default=8192),
    "EVICT_AFTER_SECONDS": env.int("CONVOSTORE_EVICT_AFTER_SECONDS", default=1800),
    "HOT_MAX_BYTES": env.int("CONVOSTORE_HOT_MAX_BYTES", default=256 * 1024 * 1024),
    "SUMMARISER": env("CONVOSTORE_SUMMARISER", default="archive_app.summarisers.ExtractiveSummariser"),
    # The local static model (archive_app.local_embedder, 256-d, numpy only) unless another embedder is named:
    # archive_app.embedders.OpenAICompatibleEmbedder for an endpoint, archive_app.embedders.HashingEmbedder.
    # EMBEDDING_DIM is the vector columns' dimension (the migration reads it): the configured model's.
    "EMBEDDER": env("CONVOSTORE_EMBEDDER", default="archive_app.local_embedder.LocalEmbedder"),
    "EMBEDDING_DIM": env.int("CONVOSTORE_EMBEDDING_DIM", default=256),
    "OPENAI_BASE_URL": env("CONVOSTORE_OPENAI_BASE_URL", default=""),
    "OPENAI_API_KEY": env("CONVOSTORE_OPENAI_API_KEY", default=""),
    "SUMMARY_MODEL": env("CONVOSTORE_SUMMARY_MODEL", default="gpt-4o-mini"),
    "EMBEDDING_MODEL": env("CONVOSTORE_EMBEDDING_MODEL", default="text-embedding-3-small"),
    "SEMANTIC_THRESHOLD": env.float("CONVOSTORE_SEMANTIC_THRESHOLD", default=0.93),  # bench/semantic_quality.py: the local model at <= 1 % false hits
    "METRICS_TOKEN": env("CONVOSTORE_METRICS_TOKEN", default=""),
    "METRICS_ALLOW": env.list("CONVOSTORE_METRICS_ALLOW", default=["127.0.0.0/8", "::1/128"]),
    "PREPARE_STATEMENTS": PREPARE_STATEMENTS,  # see DATABASES above
    "RATE_LIMIT_PER_MINUTE": env.int("CONVOSTORE_RATE_LIMIT_PER_MINUTE", default=60000),
    # Failed authentications per client address per minute, counted in each worker process (0 disables);
    # unknown keys are answered from memory for AUTH_NEGATIVE_CACHE_SECONDS (docs/operations.md).
    "AUTH_FAILURES_PER_MINUTE": env.int("CONVOSTORE_AUTH_FAILURES_PER_MINUTE", default=60),
    "AUTH_NEGATIVE_CACHE_SECONDS": env.float("CONVOSTORE_AUTH_NEGATIVE_CACHE_SECONDS", default=10.0),
    "SEMANTIC_TTL_SECONDS": env.int("CONVOSTORE_SEMANTIC_TTL_SECONDS", default=86400),
    "SEMANTIC_MAX_ENTRIES_PER_SCOPE": env.int("CONVOSTORE_SEMANTIC_MAX_ENTRIES_PER_SCOPE", default=10000),
    "SEMANTIC_MAX_RESPONSE_BYTES": env.int("CONVOSTORE_SEMANTIC_MAX_RESPONSE_BYTES", default=1048576),
    "SEMANTIC_VOTE_BUDGET": env.int("CONVOSTORE_SEMANTIC_VOTE_BUDGET", default=64),
    "SEMANTIC_METRIC_NAMESPACES": env.int("CONVOSTORE_SEMANTIC_METRIC_NAMESPACES", default=100),
    "EMBEDDING_CACHE_TTL_SECONDS": env.int("CONVOSTORE_EMBEDDING_CACHE_TTL_SECONDS", default=86400),
    "EMBEDDER_TIMEOUT_SECONDS": env.float("CONVOSTORE_EMBEDDER_TIMEOUT_SECONDS", default=10.0),
    "SUMMARY_TIMEOUT_SECONDS": env.float("CONVOSTORE_SUMMARY_TIMEOUT_SECONDS", default=30.0),
    "SUMMARY_RETRIES": env.int("CONVOSTORE_SUMMARY_RETRIES", default=2),
    "SUMMARY_MAX_TOKENS": env.int("CONVOSTORE_SUMMARY_MAX_TOKENS", default=512),
    "SUMMARY_MAX_CHARS": env.int("CONVOSTORE_SUMMARY_MAX_CHARS", default=2000),
    "RECALL_EF_SEARCH": env.int("CONVOSTORE_RECALL_EF_SEARCH", default=100),
    "RECALL_GATE": env("CONVOSTORE_RECALL_GATE", default=""),
    "RECALL_GATE_MODEL": env("CONVOSTORE_RECALL_GATE_MODEL", default=""),
    "RECALL_GATE_TIMEOUT_SECONDS": env.float("CONVOSTORE_RECALL_GATE_TIMEOUT_SECONDS", default=5.0),
    "RECALL_EXCERPT_CHARS": env.int("CONVOSTORE_RECALL_EXCERPT_CHARS", default=2000),
    "USER_METADATA_KEY": env("CONVOSTORE_USER_METADATA_KEY", default="user"),
    "EMBED_DRAIN_IDLE_SECONDS": env.float("CONVOSTORE_EMBED_DRAIN_IDLE_SECONDS", default=0.2),
    "ARCHIVE_MIN_ITEMS": env.int("CONVOSTORE_ARCHIVE_MIN_ITEMS", default=64),
    "SEGMENT_MAX_ITEMS": env.int("CONVOSTORE_SEGMENT_MAX_ITEMS", default=128),
    "SEGMENT_MAX_BYTES": env.int("CONVOSTORE_SEGMENT_MAX_BYTES", default=4 * 1024 * 1024),
    "SEGMENT_STORAGE": env("CONVOSTORE_SEGMENT_STORAGE", default=""),
    # convostore-serve: a request body must arrive within this (else 408); a streaming answer's reader that
    # accepts nothing for this long is dropped.
    "SERVE_BODY_TIMEOUT_SECONDS": env.float("CONVOSTORE_SERVE_BODY_TIMEOUT_SECONDS", default=60.0),
    "SERVE_SEND_TIMEOUT_SECONDS": env.float("CONVOSTORE_SERVE_SEND_TIMEOUT_SECONDS", default=60.0),
}

# Gateway mode (POST /v1/responses): the deployment's default upstream model server, used for every model
# name no tenant ModelRoute names. Keys are only ever read from the environment variable named here.
CONVOSTORE_UPSTREAM = {
    "URL": env("CONVOSTORE_UPSTREAM_URL", default=""),  # OpenAI-compatible base URL ending in /v1; empty = no default route
    "API": env("CONVOSTORE_UPSTREAM_API", default="chat_completions"),  # or "responses"
    "API_KEY_ENV": env("CONVOSTORE_UPSTREAM_API_KEY_ENV", default=""),  # CONVOSTORE_UPSTREAM_KEY_*; empty = no key
    "CONTEXT_WINDOW": env.int("CONVOSTORE_UPSTREAM_CONTEXT_WINDOW", default=32768),
    "ALLOWED_HOSTS": env.list("CONVOSTORE_UPSTREAM_ALLOWED_HOSTS", default=[]),  # host[:port]; empty = the host of URL
    "TIMEOUT_SECONDS": env.float("CONVOSTORE_UPSTREAM_TIMEOUT_SECONDS", default=300.0),
    "CONNECT_TIMEOUT_SECONDS": env.float("CONVOSTORE_UPSTREAM_CONNECT_TIMEOUT_SECONDS", default=5.0),
    "MAX_RETRIES": env.int("CONVOSTORE_UPSTREAM_MAX_RETRIES", default=2),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["sessions_app.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["convostore.parsers.StrictJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "convostore.negotiation.FastContentNegotiation",
    "EXCEPTION_HANDLER": "convostore.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["sessions_app.throttling.ApiKeyRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    # Proxies in front that append to X-Forwarded-For: set, failed authentications are counted per client
    # address taken from that header (sessions_app.auth.client_address); unset, per REMOTE_ADDR.
    "NUM_PROXIES": env.int("DJANGO_NUM_PROXIES", default=None),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ConvoStore API",
    "DESCRIPTION": "Conversation state for LLM inference gateways.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "sessions_app.api.openapi.postprocess",
    ],
}

# Structured logs (JSON lines with the request's or task's ids): convostore/settings/logs.py.
from .logs import LOGGING  # noqa: E402,F401
