# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run manage test test-all venv litellm-venv redis-server chromium bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

venv: $(STAMP)

# The LiteLLM proxy tests/integrations/test_litellm_proxy.py starts lives in its own venv (its dependencies are not ours).
LITELLM_VENV := .venv-litellm
LITELLM_STAMP := $(LITELLM_VENV)/.installed
$(LITELLM_STAMP): tests/integrations/litellm-requirements.txt
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install --quiet -r tests/integrations/litellm-requirements.txt
	touch $(LITELLM_STAMP)

litellm-venv: $(LITELLM_STAMP)

# Tests always use a real redis-server: install Debian's when missing and we may.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server (Debian)"; apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; \
	  else echo "redis-server is required for the tests; install it (apt-get install redis-server)"; exit 1; fi; }

# The admin browser test drives Debian's Chromium; it skips (and says so) where it cannot be installed.
chromium:
	@[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (Debian)"; { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } \
	      || echo "could not install chromium; the admin browser test will be skipped"; \
	  else echo "the admin browser test needs chromium and chromium-driver; it will be skipped"; fi; }

run: $(STAMP)
	$(PY) scripts/devservers.py run

# Any manage.py command against the stack `make run` is serving: make manage ARGS="evict --idle-seconds 0"
manage: $(STAMP)
	@$(PY) scripts/devservers.py manage $(ARGS)

# The same suites again with every Redis alias on a Redis Cluster (3 masters + 3 replicas started by the
# run, `--redis-cluster`): `make test` runs a short subset, `make test-all` the whole list.
CLUSTER_SHORT := tests/cache_app/test_hot_window_lua.py tests/cache_app/test_context_hot_path.py \
  tests/cache_app/test_semantic_purge_and_layers.py tests/sessions_app/test_delete.py tests/faults/test_gdpr_residue.py \
  tests/sessions_app/test_one_trip.py
CLUSTER_SUITES := tests/cache_app tests/sessions_app/test_delete.py tests/sessions_app/test_fork.py \
  tests/sessions_app/test_key_rotation.py tests/sessions_app/test_query_counts.py tests/sessions_app/test_one_trip.py tests/sessions_app/test_append_idempotency.py \
  tests/sessions_app/test_concurrent_writers.py tests/api/test_append_basics.py tests/api/test_openai_responses.py \
  tests/api/test_openai_conversations.py tests/api/test_openai_items.py tests/api/test_openai_item_delete.py \
  tests/api/test_rate_limit.py tests/api/test_isolation.py tests/api/test_schema_and_health.py \
  tests/security/test_urlconf_isolation.py tests/archive_app/test_eviction.py tests/archive_app/test_lifecycle_tasks.py \
  tests/archive_app/test_archive_roundtrip.py tests/archive_app/test_recall_freshness.py tests/archive_app/test_memory_tasks.py \
  tests/faults/test_gdpr_residue.py

test: $(STAMP) $(LITELLM_STAMP) redis-server chromium
	$(PY) scripts/devservers.py test -- -q -m "not slow"
	$(PY) scripts/devservers.py test -- -q -m "not slow" --redis-cluster $(CLUSTER_SHORT)

test-all: $(STAMP) $(LITELLM_STAMP) redis-server chromium
	$(PY) scripts/devservers.py test -- -q
	$(PY) scripts/devservers.py test -- -q --redis-cluster $(CLUSTER_SUITES)

# Benchmarks (never part of the tests): each script compares with a floor or a peer in one run
# and writes bench/results/<name>.json. `make bench BENCH=codec` runs one.
BENCH ?= api_latency context semantic_cache lifecycle recall tokens codec scale command_startup scaling abuse auth_flood peers
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[embedded,dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) redis-server
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null 2>&1 || true; }
	@for name in $(BENCH); do echo "== bench/$$name.py"; \
	  $(PY) scripts/devservers.py exec $(PY) bench/$$name.py || exit 1; done

clean:
	rm -rf $(VENV) $(LITELLM_VENV) .convostore
