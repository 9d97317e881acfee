# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bench clean gpu-check

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

## demo: denoise noisy versions of scikit-image's bundled photos into demo/clean
demo: $(STAMP)
	$(VENV)/bin/fastdenoise sample-images demo/noisy
	$(VENV)/bin/fastdenoise run demo/noisy -o demo/clean --overwrite

## test: lint, then the whole pytest suite (CPU only, no network, no ../shared)
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

## gpu-check: on an NVIDIA machine, its own venv (CUDA torch, GPU extras), then every GPU check
gpu-check:
	bash bench/gpu_check.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) demo .pytest_cache .ruff_cache
