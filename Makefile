# The two set-up commands: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
APT_TEST_PACKAGES := espeak-ng postgresql systemd

export RECORDER_DATA_DIR ?= $(CURDIR)/var/data
export RECORDER_KEY_FILE ?= $(CURDIR)/var/etc/master.key

.PHONY: run install test check lint typecheck schema bench-search clean apt-test binary test-binary

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	@mkdir -p var
	@echo "Starting the appliance on http://$${RECORDER_HTTP_HOST:-127.0.0.1}:$${RECORDER_HTTP_PORT:-8080}/"
	@echo "Sign in as admin with the default password JSJZXWLGLY358; you will be asked to change it."
	@echo "Integrators: $(VENV)/bin/recorder admin token create --name NAME  (prints the token)"
	$(VENV)/bin/recorder all

# Debian packages the tests drive for real: speech for audio, a PostgreSQL server.
apt-test:
	@missing=""; for p in $(APT_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "please install:$$missing (as root: make apt-test)"; exit 1; fi; \
	fi

test: install apt-test lint
	$(PY) -m pytest -q -p no:cacheprovider tests
	$(MAKE) test-binary

check: install
	$(PY) -m ruff check appliance tests benchmarks
	$(PY) -m pytest -q -x -p no:cacheprovider tests/unit

lint: install
	$(PY) -m ruff check appliance tests benchmarks
	$(PY) -m ruff format --check appliance

typecheck: install
	$(PY) -m mypy appliance

schema: install
	$(VENV)/bin/recorder admin export-schema

bench-search: install apt-test
	$(PY) benchmarks/search.py

clean:
	rm -rf $(VENV) build dist *.egg-info

# The single binary (Nuitka). Caches live outside the clone so rebuilds, and CI on the
# same machine, take minutes instead of a quarter of an hour.
BUILD_CACHE ?= /var/cache/recorder-build
# Pony builds SQL by decompiling Python bytecode, which compiled modules lack (Nuitka
# issue #44): it ships as plain Python inside the binary instead of being compiled.
# The standard-library modules Pony imports, which nothing compiled may pull in.
PONY_STDLIB := ast dis opcode pickle pprint textwrap decimal sqlite3 inspect binascii platform uuid \
	random copy json signal hashlib io operator types weakref warnings threading \
	xml.etree.cElementTree psycopg2.extras psycopg2.extensions contextlib collections logging
PONY_DIR = $(shell $(PY) -c 'import pony, os; print(os.path.dirname(pony.__file__))' 2>/dev/null)
NUITKA_FLAGS := --onefile --python-flag=no_site \
	--include-package=appliance --include-package-data=appliance \
	--include-package=uvicorn --include-package-data=captcha \
	--nofollow-import-to=pony --include-raw-dir=$(PONY_DIR)=pony --no-deployment-flag=excluded-module-usage \
	$(foreach m,$(PONY_STDLIB),--include-module=$(m)) --include-module=psycopg2 \
	--nofollow-import-to=pytest --nofollow-import-to=numpy --nofollow-import-to=mypy \
	--output-dir=build/nuitka --output-filename=recorder

binary: dist/recorder

dist/recorder: install $(shell git ls-files appliance 2>/dev/null)
	command -v patchelf >/dev/null && command -v ccache >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get install -y -qq patchelf ccache; }
	$(PY) -m pip install --quiet 'nuitka[onefile]>=2.4'
	mkdir -p dist $(BUILD_CACHE)/ccache $(BUILD_CACHE)/nuitka
	CCACHE_DIR=$(BUILD_CACHE)/ccache CCACHE_BASEDIR=$(CURDIR) CCACHE_NOHASHDIR=1 \
	  NUITKA_CACHE_DIR=$(BUILD_CACHE)/nuitka \
	  $(PY) -m nuitka $(NUITKA_FLAGS) appliance/__main__.py
	cp build/nuitka/recorder dist/recorder

# The same API tests against the compiled binary, on SQLite and PostgreSQL.
BINARY_TESTS := tests/integration/test_smoke.py tests/integration/test_recordings_audio.py \
	tests/integration/test_scoping.py tests/integration/test_auth.py tests/integration/test_systemd.py

test-binary: dist/recorder apt-test
	RECORDER_TEST_BINARY=$(CURDIR)/dist/recorder $(PY) -m pytest -q -p no:cacheprovider $(BINARY_TESTS)
