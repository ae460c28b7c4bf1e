# The two set-up commands: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# What running needs (make run), and on top of it what the tests and tools need (make test).
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
TEST_STAMP := $(VENV)/.installed-test-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
APT_TEST_PACKAGES := espeak-ng postgresql systemd sip-tester chromium fonts-noto-cjk locales \
	snmptrapd snmp smitools openssh-server openssh-client nginx-light sox samba \
	keepalived iproute2 iputils-ping
# What building and booting the appliance image needs (no loop devices, no mounts).
APT_IMAGE_PACKAGES := mmdebstrap qemu-system-x86 qemu-utils ovmf grub-pc-bin grub-efi-amd64-bin \
	grub-common mtools dosfstools fdisk e2fsprogs

export RECORDER_DATA_DIR ?= $(CURDIR)/var/data
export RECORDER_KEY_FILE ?= $(CURDIR)/var/etc/master.key

.PHONY: run install install-test console test check lint imports typecheck schema bench-search bench-capture bench-console bench-image bench-upload-memory bench-refusals bench-events bench-monitor bench-pull bench-backup bench-ha bench-reports clean apt-test apt-image \
	binary test-binary image test-image box

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

install: $(STAMP)

install-test: $(TEST_STAMP)

# The web console (spa/, Vue + Vite), built into appliance/web where the API serves it;
# rebuilt when its sources change (the words it shares with the server's files included).
# The built files are not committed.
CONSOLE := appliance/web/index.html
console: $(CONSOLE)

$(CONSOLE): $(shell git ls-files spa appliance/words 2>/dev/null)
	cd spa && npm ci --no-audit --no-fund --loglevel=error
	rm -rf appliance/web/assets
	cd spa && npm run build
	touch $@

run: install console
	@mkdir -p var
	@echo "Starting the appliance on http://$${RECORDER_HTTP_HOST:-127.0.0.1}:$${RECORDER_HTTP_PORT:-8080}/"
	@echo "Sign in as admin with the default password JSJZXWLGLY358; you will be asked to change it."
	@echo "Integrators: $(VENV)/bin/recorder admin token create --name NAME  (prints the token)"
	$(VENV)/bin/recorder all

# Installs the Debian packages named in $(1) that are missing (as root), or says which.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "please install:$$missing (as root: make $@)"; exit 1; fi; \
	fi
endef

# Debian packages the tests drive for real: speech for audio, a PostgreSQL server; and the
# zh_CN.UTF-8 locale, which the PostgreSQL tests' databases are collated by.
apt-test:
	$(call apt_install,$(APT_TEST_PACKAGES))
	@locale -a 2>/dev/null | grep -qix 'zh_CN.utf8' || { \
	  if [ "$$(id -u)" = 0 ]; then sed -i 's/^# *zh_CN.UTF-8 UTF-8/zh_CN.UTF-8 UTF-8/' /etc/locale.gen; \
	    grep -q '^zh_CN.UTF-8 UTF-8' /etc/locale.gen || echo 'zh_CN.UTF-8 UTF-8' >> /etc/locale.gen; locale-gen; \
	  else echo "please generate the zh_CN.UTF-8 locale (as root: make $@)"; exit 1; fi; }

apt-image:
	$(call apt_install,$(APT_IMAGE_PACKAGES))

# Two test processes, a file each at a time (the tests wait on servers far more than they
# compute); then, alone, the files that measure the machine (marked `alone`).
test: install-test apt-test lint typecheck console
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile -m "not alone" tests
	$(PY) -m pytest -q -p no:cacheprovider -m alone tests
	$(MAKE) test-binary
	$(MAKE) test-image

check: install-test imports typecheck
	$(PY) -m ruff check appliance tests benchmarks
	$(PY) -m pytest -q -x -p no:cacheprovider tests/unit

lint: install-test imports
	$(PY) -m ruff check appliance tests benchmarks
	$(PY) -m ruff format --check appliance

# The layers' contracts (pyproject.toml, [tool.importlinter]): a broken layer fails CI.
imports: install-test
	$(VENV)/bin/lint-imports

# Types (pyproject.toml, [tool.mypy]): every function in appliance/ typed, no unused ignores;
# typings/ holds the partial stub that keeps @db_session functions typed.
typecheck: install-test
	$(PY) -m mypy appliance

schema: install
	$(VENV)/bin/recorder admin export-schema

bench-search: install-test apt-test
	$(PY) benchmarks/search.py

# The console's weight (what the login page loads) and time to an interactive recordings page.
bench-console: install-test apt-test console
	$(PY) benchmarks/console.py

# N concurrent SIPREC calls (N = 100, 300, 1000) held 60 s: loss, drops, CPU per call-minute.
bench-capture: install-test apt-test
	$(PY) benchmarks/capture_load.py

# The event log: an idle follower's CPU (SQLite polls, PostgreSQL listens), commit-to-seen delay.
bench-events: install-test apt-test
	$(PY) benchmarks/event_log.py

# The monitor's CPU (idle, and with 1000 sessions' sockets to count drops on) and the time
# from the sample that crossed a threshold to the trap in snmptrapd's log.
bench-monitor: install-test apt-test
	$(PY) benchmarks/monitor.py

bench-pull: install-test apt-test
	$(PY) benchmarks/pull.py

bench-backup: install-test apt-test
	$(PY) benchmarks/backup.py

# A 10,000-recording backlog to a new standby, and a takeover after kill -9.
bench-ha: install-test apt-test
	$(PY) benchmarks/ha.py

# Every report template at 10,000,000 recordings on SQLite and PostgreSQL (about an hour
# and 20 GB of scratch space), the search's cases beside them, ingest with roll-ups on/off.
bench-reports: install-test apt-test
	$(PY) benchmarks/reports.py

# GraphQL refusal times, known/unknown sign-in times, and promptness during an import.
bench-refusals: install-test apt-test
	$(PY) benchmarks/refusals.py

# Peak RSS of the API for 1, 3 and 10 concurrent 200 MB uploads and 4 WAV transcodes of a 3-hour recording.
bench-upload-memory: install-test
	$(PY) benchmarks/upload_memory.py

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
# pysnmp reads its own MIB modules as Python source from its package folder at run time
# (MibBuilder's DirMibSource): they ship as plain files beside the compiled package.
PYSNMP_MIBS = $(shell $(PY) -c 'import pysnmp.smi.mibs as m, os; print(os.path.dirname(m.__file__))' 2>/dev/null)
# Imported only inside try/except ImportError, or only by a library's own command line:
# pygments (strawberry's and httpx's pretty printing, installed here by pytest), invoke
# (paramiko's ssh_config "Match exec"), yaml (uvicorn's --log-config). Compiled, they were
# a fifth of the C files of a cold build (390 of 1,750 modules).
OPTIONAL_IMPORTS := pygments invoke yaml httpx._main strawberry.exceptions.syntax
NUITKA_FLAGS := --onefile --python-flag=no_site --lto=no \
	--include-package=appliance --include-package-data=appliance \
	--include-package=uvicorn --include-package-data=captcha \
	--nofollow-import-to=pony --include-raw-dir=$(PONY_DIR)=pony --no-deployment-flag=excluded-module-usage \
	--include-raw-dir=$(PYSNMP_MIBS)=pysnmp/smi/mibs \
	$(foreach m,$(PONY_STDLIB),--include-module=$(m)) --include-module=psycopg2 \
	--nofollow-import-to=pytest --nofollow-import-to=numpy --nofollow-import-to=mypy \
	$(foreach m,$(OPTIONAL_IMPORTS),--nofollow-import-to=$(m)) \
	--output-dir=build/nuitka --output-filename=recorder

binary: dist/recorder

# A file prerequisite, not the phony install: otherwise every make invocation rebuilds.
dist/recorder: $(STAMP) $(CONSOLE) $(shell git ls-files appliance 2>/dev/null)
	command -v patchelf >/dev/null && command -v ccache >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get install -y -qq patchelf ccache; }
	$(PY) -m pip install --quiet 'nuitka[onefile]>=2.4'
	mkdir -p dist $(BUILD_CACHE)/ccache $(BUILD_CACHE)/nuitka
	CCACHE_DIR=$(BUILD_CACHE)/ccache CCACHE_BASEDIR=$(CURDIR) CCACHE_NOHASHDIR=1 \
	  NUITKA_CACHE_DIR=$(BUILD_CACHE)/nuitka \
	  $(PY) -m nuitka $(NUITKA_FLAGS) appliance/__main__.py
	cp build/nuitka/recorder dist/recorder

# The compiled binary runs what packaging can break: each service starting and stopping
# (signals through the one-file wrapper), capture, codecs, the spreadsheets and archives,
# SNMP and mail, every transfer protocol (FTP, SFTP, HTTP, SMB), backups and their import,
# the GraphQL schema's every example, and the console it carries. The rest of the suite
# tests the same Python, which the source run covers.
BINARY_TESTS := tests/integration/test_smoke.py tests/integration/test_recordings_audio.py \
	tests/integration/test_systemd.py tests/integration/test_capture_sip.py \
	tests/integration/test_housekeeping_and_init.py tests/integration/test_siprec_calls.py \
	tests/integration/test_capture_durability.py tests/integration/test_security_spool.py \
	tests/integration/test_exports_audit.py tests/integration/test_monitoring.py \
	tests/integration/test_pull.py::test_ftp_fetches_every_layout_once_and_reports_the_bad_entries \
	tests/integration/test_pull.py::test_sftp_by_password_and_by_key_pins_the_host_key \
	tests/integration/test_pull.py::test_http_and_https_autoindex_with_a_trusted_fingerprint \
	tests/integration/test_backup.py::test_a_local_backup_holds_nothing_in_clear_and_restores_on_a_new_appliance \
	tests/integration/test_backup.py::test_a_schedule_backs_up_to_ftp_sftp_and_smb_and_a_new_appliance_imports_from_the_share \
	tests/integration/test_graphql_contract.py tests/integration/test_reports.py \
	tests/integration/test_ha_takeover.py::test_takeover_handover_and_failback_lose_no_call \
	tests/browser/test_console.py::test_search_with_several_conditions

test-binary: dist/recorder apt-test install-test
	RECORDER_TEST_BINARY=$(CURDIR)/dist/recorder $(PY) -m pytest -q -p no:cacheprovider $(BINARY_TESTS)

# The appliance disk image (see image/build.sh). The image carries the binary's
# standalone folder, which Nuitka leaves beside the one file: four services then share
# one copy instead of each unpacking 170 MB into /tmp at every start.
IMAGE_INPUTS := image/build.sh image/grub_bios.py $(shell git ls-files image systemd 2>/dev/null)
image: dist/recorder-appliance.raw

dist/recorder-appliance.raw: dist/recorder $(IMAGE_INPUTS)
	$(MAKE) apt-image
	test -x build/nuitka/__main__.dist/recorder.bin || { rm -f dist/recorder; $(MAKE) dist/recorder; }
	image/build.sh build/nuitka/__main__.dist dist build/image

# Boots the image in qemu (TCG) under SeaBIOS and OVMF and uses it as a person would.
test-image: dist/recorder-appliance.raw install-test
	RECORDER_TEST_IMAGE=$(CURDIR)/dist/recorder-appliance.raw $(PY) -m pytest -q -p no:cacheprovider tests/image

bench-image: dist/recorder-appliance.raw
	$(PY) benchmarks/image.py dist/recorder-appliance.raw

# A Vagrant box (libvirt provider) of the image; see the Vagrantfile.
box: dist/recorder-appliance.box

dist/recorder-appliance.box: dist/recorder-appliance.raw image/vagrant/Vagrantfile
	$(MAKE) apt-image
	image/make-box.sh dist/recorder-appliance.raw image/vagrant/Vagrantfile $@
