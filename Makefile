# Two entry points do all the set-up on a fresh Debian machine:
#   make demo   - venv + package, then run the demo (see README)
#   make test   - venv + package + dev tools + etcd, then ruff, mypy --strict and every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest etcd clean bench

# Offline first: every pinned version (constraints.txt) is in this kind of
# machine's PyPI mirror (/opt/pypi) or in third_party/wheels, so installing
# needs no network; PyPI is asked only when that fails (another machine), and
# then again every 30 s for up to 20 minutes (name resolution drops out here).
PIP_SET := -c constraints.txt --find-links third_party/wheels -e '.[dev]'

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	cd third_party/wheels && sha256sum --quiet -c SHA256SUMS
	PIP_INDEX_URL=file:///opt/pypi/simple $(BIN)/python -m pip install --quiet $(PIP_SET) \
	    2>$(VENV)/pip-offline.log \
	  || { grep -v 'is ignored' $(VENV)/pip-offline.log >&2; \
	       echo "installing from the local wheels failed (above): trying PyPI"; \
	       .ci/retry $(BIN)/python -m pip install --quiet $(PIP_SET); }
	# bytecode up front: contivpp-cni runs once per pod, and some hosts set
	# PYTHONDONTWRITEBYTECODE, which would make every run compile from source
	$(BIN)/python -m compileall -q src >/dev/null
	touch $(STAMP)

# Debian's etcd-server (3.4.23-4+b4, amd64): the package file in third_party/debs, checked
# against its SHA256SUMS (no network needed); apt only where that cannot be installed.
ETCD_DEB := third_party/debs/etcd-server_3.4.23-4+b4_amd64.deb

etcd:
	@command -v etcd >/dev/null 2>&1 || { \
	  echo "etcd not found: installing Debian's etcd-server"; \
	  { (cd third_party/debs && sha256sum --quiet -c SHA256SUMS) \
	    && DEBIAN_FRONTEND=noninteractive dpkg -i $(ETCD_DEB) >/dev/null; } \
	  || .ci/retry sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server' >/dev/null; }

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
