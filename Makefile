# Two entry points: `make demo` and `make test`. Both create .venv on first use
# (torch==2.13.0 first, then hasearch with its test extras) and are quick afterwards.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Ray binds the machine's external address unless the network namespace has only
# loopback; run the suite in a private one where we may (root on Linux).
ISOLATE := $(shell unshare -n true 2>/dev/null && echo yes)
ifeq ($(ISOLATE),yes)
RUN_ISOLATED = unshare -n sh -c 'ip link set lo up && $(1)'
else
RUN_ISOLATED = $(1)
endif

.PHONY: setup test demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(call RUN_ISOLATED,$(BIN)/python -m pytest -q)

demo: $(STAMP)
	$(BIN)/hasearch demo

clean:
	rm -rf $(VENV) build src/*.egg-info
