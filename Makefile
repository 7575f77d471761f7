# branchgate: `make demo` runs the tunnel on the sim board, `make test` runs every test.
# Both install what they need: a .venv with the pinned tools, and (as root) strongSwan from Debian.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEB_PACKAGES := strongswan-charon strongswan-swanctl libstrongswan-standard-plugins \
                libcharon-extra-plugins iproute2 tcpdump iperf3
PYTEST_ARGS ?=

.PHONY: all venv debs test demo bench soak firmware clean

all: test

$(STAMP): requirements-dev.txt host_tools/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e ./host_tools
	touch $(STAMP)

venv: $(STAMP)

# strongSwan is the head-office peer of the interop tests; without root they skip and say so.
debs:
	@if [ "$$(id -u)" != 0 ]; then echo "not root: skipping Debian packages (interop tests will skip)"; \
	elif dpkg -s $(DEB_PACKAGES) >/dev/null 2>&1; then echo "Debian packages present"; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_PACKAGES); fi

test: venv debs
	$(PY) -m pytest $(PYTEST_ARGS)

demo: venv debs
	$(PY) -m branchgate.demo

bench: venv debs
	$(PY) tests/bench/run.py $(BENCH)

soak: venv debs
	BRANCHGATE_SOAK=1 $(PY) -m pytest -m soak $(PYTEST_ARGS)

# Custom MicroPython firmware with branchgate frozen in: needs ESP-IDF and MICROPY_DIR, says which is missing.
firmware: venv
	$(VENV)/bin/branchgate firmware build --board "$(BOARD)" $(if $(VARIANT),--variant $(VARIANT))

clean:
	rm -rf $(VENV) build .pytest_cache
