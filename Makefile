# Two commands: `make demo` and `make test`. Both install what they need first.
# `make install` alone sets up the package for library use (no Debian packages needed).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# binary:Debian package that ships it:variable that may point at it instead (- for none)
DEB_BINARIES := prometheus:prometheus:MLMON_PROMETHEUS_BIN \
	promtool:prometheus:MLMON_PROMTOOL_BIN \
	prometheus-alertmanager:prometheus-alertmanager:MLMON_ALERTMANAGER_BIN \
	amtool:prometheus-alertmanager:MLMON_AMTOOL_BIN \
	prometheus-node-exporter:prometheus-node-exporter:MLMON_NODE_EXPORTER_BIN \
	victoria-metrics:victoria-metrics:MLMON_VICTORIAMETRICS_BIN
# headless Chromium for the launcher's browser test
TEST_BINARIES := chromium:chromium:-

.PHONY: install system-deps test-deps demo demo-down test test-fast lint bench clean

# the package with every extra and the test tools, in $(VENV)
install: $(VENV)/.installed

# Debian packages where absent (a binary named by its MLMON_*_BIN variable counts as present);
# one clear line where we cannot install them.
system-deps:
	@missing=""; for triple in $(DEB_BINARIES); do IFS=: read -r bin pkg var <<< "$$triple"; \
	  if [ "$$var" != - ] && [ -n "$${!var}" ]; then \
	    command -v "$${!var}" >/dev/null 2>&1 && continue; \
	    echo "mlmon-nb: $$var=$${!var} is not an executable; fix or unset it" >&2; exit 1; fi; \
	  command -v $$bin >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing// /}" ]; then \
	  if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	    echo "mlmon-nb: missing $$missing- install them (Debian: apt-get install $$missing) or point MLMON_PROMETHEUS_BIN, MLMON_PROMTOOL_BIN, MLMON_ALERTMANAGER_BIN, MLMON_AMTOOL_BIN, MLMON_NODE_EXPORTER_BIN, MLMON_VICTORIAMETRICS_BIN at them; automatic install needs root on Debian." >&2; exit 1; fi; \
	  echo "installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	    || { echo "mlmon-nb: apt-get install $$missing failed" >&2; exit 1; }; \
	fi

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import venv, ensurepip' >/dev/null 2>&1 || { \
	  echo "mlmon-nb: $(PYTHON) cannot create a venv - install python3-venv (Debian: apt-get install python3-venv)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip >/dev/null
	$(BIN)/python -m pip install -q -e '.[all,test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@

demo: install system-deps
	$(BIN)/mlmon-nb demo up

demo-down: install
	$(BIN)/mlmon-nb stack down

# four workers, one module each at a time, in the suite's order (the end-to-end modules first;
# xdist would reorder them by their number of tests): most tests wait on servers, kernels and
# scrapes, the end-to-end ones minutes on their alerts' `for`
test: install system-deps test-deps
	$(BIN)/python -m pytest -n 4 --dist loadfile --no-loadscope-reorder

# the inner loop: the unit tier only (tests/unit: no Prometheus, kernels or servers), about a minute
test-fast: install
	$(BIN)/python -m pytest tests/unit -q

# the style, type and layer checks that tests/integration/test_lint.py also runs inside `make test`
lint: install
	$(BIN)/ruff check mlmon_nb tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test-deps:
	@$(MAKE) --no-print-directory system-deps DEB_BINARIES="$(TEST_BINARIES)"

bench: install system-deps
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) mlmon-state build *.egg-info
