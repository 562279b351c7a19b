# Every target installs what it needs first, so any one of them works on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install sysdeps demo run test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,dev,fast]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rootwalk lab demo

run: $(STAMP)
	$(BIN)/rootwalk serve $(ARGS)

# Debian packages the tests use as real clients (dig; chromium and chromedriver for the
# dashboard). Installed when missing and we are root with apt-get; otherwise the tests that
# need them skip and say why.
sysdeps:
	@if ! command -v dig >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing bind9-dnsutils (dig) for the client tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bind9-dnsutils \
	    >/dev/null) || echo "warning: could not install dig; its tests will skip" >&2; \
	fi
	@if ! { command -v chromium && command -v chromedriver; } >/dev/null && [ "$$(id -u)" = 0 ] \
	  && command -v apt-get >/dev/null; then \
	  echo "installing chromium and chromium-driver for the dashboard's browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    chromium-driver >/dev/null) || echo "warning: could not install chromium; the browser \
	    tests will skip" >&2; \
	fi

test: $(STAMP) sysdeps
	@$(BIN)/pytest -n 2 -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no test" >&2; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	@for t in dnsperf unbound nsd; do command -v $$t >/dev/null || PATH="$$PATH:/usr/sbin" command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then echo "bench: apt-get install -y$$missing"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y$$missing; fi
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info bench/results
