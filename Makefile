# Two entry points do all the set-up on a fresh Debian machine:
#   make demo   - venv + package, then run the demo (see README)
#   make test   - venv + package + dev tools + etcd, then ruff, mypy --strict and every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest etcd clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# bytecode up front: contivpp-cni runs once per pod, and some hosts set
	# PYTHONDONTWRITEBYTECODE, which would make every run compile from source
	$(BIN)/python -m compileall -q src >/dev/null
	touch $(STAMP)

etcd:
	@command -v etcd >/dev/null 2>&1 || { \
	  echo "etcd not found: installing Debian's etcd-server"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client) >/dev/null; }

demo: $(STAMP) etcd
	$(BIN)/contivpp --log-level warning demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/

pytest: $(STAMP) etcd
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
