# Two commands: `make demo` and `make test`. Both install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEB_PACKAGES := prometheus prometheus-alertmanager prometheus-node-exporter victoria-metrics
# binary -> Debian package that ships it
DEB_BINARIES := prometheus:prometheus promtool:prometheus prometheus-alertmanager:prometheus-alertmanager amtool:prometheus-alertmanager prometheus-node-exporter:prometheus-node-exporter victoria-metrics:victoria-metrics

.PHONY: install system-deps test-deps demo demo-down test bench clean

install: system-deps $(VENV)/.installed

# Debian packages where absent; one clear line where we cannot install them.
system-deps:
	@missing=""; for pair in $(DEB_BINARIES); do bin=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$bin >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	$(PYTHON) -c 'import venv, ensurepip' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing// /}" ]; then \
	  if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	    echo "mlmon-nb: missing $$missing- install them (Debian: apt-get install $$missing) or set MLMON_PROMETHEUS_BIN etc.; automatic install needs root on Debian." >&2; exit 1; fi; \
	  echo "installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	    || { echo "mlmon-nb: apt-get install $$missing failed" >&2; exit 1; }; \
	fi

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip >/dev/null
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@

demo: install
	$(BIN)/mlmon-nb demo up

demo-down: install
	$(BIN)/mlmon-nb stack down

test: install test-deps
	$(BIN)/python -m pytest

# headless Chromium for the launcher's browser test (Debian package `chromium`)
TEST_BINARIES := chromium:chromium
test-deps:
	@$(MAKE) --no-print-directory system-deps DEB_BINARIES="$(TEST_BINARIES)"

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) mlmon-state build *.egg-info
