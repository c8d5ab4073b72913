# Fieldnode: the two commands are `make run` and `make test`.
# Everything they need is installed on first use: a .venv from PyPI (pinned in
# requirements-dev.txt) and Debian's mosquitto/socat via apt-get when missing.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# pytest arguments, e.g. `make test ARGS="-k codec -x"`
ARGS   ?=
# pytest-xdist workers for `make test`, each taking whole test files (a file's tests
# share its nodes and run in order); JOBS=0 runs in this process (for -s, pdb). Four
# on 2 cores: the tests mostly wait on brokers, nodes and timers (a run uses 0.85 to
# 1.4 of the 2 cores on average), so four take 8-9 minutes where two took 14-15
JOBS   ?= 4

.PHONY: help run test bench fuzz venv broker-deps system-deps unix-deps firmware board-known clean

help:
	@echo "make run     run the firmware on the unix board against a local Mosquitto"
	@echo "make test    run the whole test suite (CPython + MicroPython unix port, real Mosquitto)"
	@echo "make bench   memory/throughput/latency table (bench/results/latest.md)"
	@echo "make firmware BOARD=unix   the node frozen into a 32-bit unix MicroPython (build/fieldnode-unix)"
	@echo "make firmware BOARD=rp2_pico_w   Pico W image with the node frozen in (build/firmware/rp2_pico_w/firmware.uf2)"
	@echo "make fuzz    hostile-server fuzzing: 100k cases each on CPython and MicroPython"
	@echo "make venv    only create .venv with the pinned dev dependencies"
	@echo "make clean   remove .venv and the in-tree caches (.cache/, build/; device builds"
	@echo "             stay in ~/.cache/fieldnode: remove it, or FIELDNODE_CACHE's folder, too)"

# The last step installs the `fieldnode` CLI (tools/fieldnode, editable): .venv/bin/fieldnode
$(STAMP): requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s)" % sys.version.split()[0])'
	@# Debian ships ensurepip (which venv needs) in python3-venv, not installed by default
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  echo "Installing Debian package: python3-venv"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
	@# a venv left without pip (made before python3-venv was there) is made again
	@$(PY) -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: $(STAMP)

# Debian packages, installed only when missing. broker-deps: the broker the tests and
# `make run` start, socat for the serial (pseudo-terminal) tests, openssl for the TLS
# test certificates. system-deps adds the compilers and qemu of the device builds.
broker-deps:
	@if ! { command -v mosquitto || [ -x /usr/sbin/mosquitto ]; } >/dev/null 2>&1 \
	    || ! command -v socat >/dev/null 2>&1 \
	    || ! command -v openssl >/dev/null 2>&1 \
	    || ! command -v mosquitto_sub >/dev/null 2>&1; then \
	  echo "Installing Debian packages: mosquitto mosquitto-clients socat openssl"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients socat openssl >/dev/null; \
	fi

system-deps: broker-deps
	@# Device-class builds (tools/mpbuild.py): 32-bit unix port, Cortex-M qemu port;
	@# the Pico W image (tools/rp2_firmware.py) also needs cmake and the ARM libstdc++.
	@if ! dpkg -s gcc-multilib gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm cmake libstdc++-arm-none-eabi-newlib build-essential >/dev/null 2>&1; then \
	  echo "Installing Debian packages: gcc-multilib gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm cmake libstdc++-arm-none-eabi-newlib build-essential"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-multilib gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm cmake libstdc++-arm-none-eabi-newlib build-essential >/dev/null; \
	fi

# the 32-bit unix port alone (make firmware BOARD=unix): no ARM toolchain, no qemu
unix-deps:
	@if ! dpkg -s gcc-multilib build-essential >/dev/null 2>&1; then \
	  echo "Installing Debian packages: gcc-multilib build-essential"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-multilib build-essential >/dev/null; \
	fi

test: venv system-deps
	$(PY) -m pytest -n $(JOBS) --dist loadfile --no-loadscope-reorder $(ARGS)

run: venv broker-deps
	$(PY) tools/run_local.py

# The node frozen into MicroPython v1.28.0 for BOARD (unix, rp2_pico_w; esp32: README,
# built with your own ESP-IDF: it only says how, so it installs no compilers first).
BOARD ?= unix
firmware: board-known venv $(if $(filter esp32,$(BOARD)),,$(if $(filter unix,$(BOARD)),unix-deps,system-deps))
	@if [ "$(BOARD)" = rp2_pico_w ]; then $(PY) tools/rp2_firmware.py; \
	else $(PY) tools/mpbuild.py firmware $(BOARD); fi

# before anything installs: a mistyped BOARD pulled in the toolchains (about 1 GB) first
board-known:
	@[ -f boards/$(BOARD)/board.json ] || { echo "make firmware: unknown BOARD '$(BOARD)' (known: $$(cd boards && echo */board.json | sed 's,/board.json,,g'))" >&2; exit 2; }

bench: venv system-deps
	$(PY) bench/run.py $(ARGS)

# ARGS e.g. "--seed 42 --cpython-cases 200000"
fuzz: venv
	$(PY) host_tests/fuzz.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .cache build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
