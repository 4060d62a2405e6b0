# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run manage test test-all venv redis-server chromium bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

venv: $(STAMP)

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

test: $(STAMP) redis-server chromium
	$(PY) scripts/devservers.py test -- -q -m "not slow"

test-all: $(STAMP) redis-server chromium
	$(PY) scripts/devservers.py test -- -q

# Benchmarks (never part of the tests): each script compares with a floor or a peer in one run
# and writes bench/results/<name>.json. `make bench BENCH=codec` runs one.
BENCH ?= api_latency context semantic_cache lifecycle recall tokens codec command_startup
bench: $(STAMP) redis-server
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null 2>&1 || true; }
	@for name in $(BENCH); do echo "== bench/$$name.py"; \
	  $(PY) scripts/devservers.py exec $(PY) bench/$$name.py || exit 1; done

clean:
	rm -rf $(VENV) .convostore
