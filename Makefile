# Quick start: `make demo` (set up + run the whole job on a built-in input), `make test` (set up + run the tests).
# Both create .venv on first use. CUDA users: `make TORCH_SPEC="torch" demo` takes PyTorch's default (CUDA) build.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup test test-fast demo bench clean

setup: $(VENV)/.installed

# torch first, pinned to the CPU wheel here, so the range in requirements.txt installs nothing larger.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

demo: setup
	$(BIN)/dr2 --workspace demo-work demo

bench: setup
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) demo-work dr2-work .pytest_cache

# On a CUDA machine (with `make TORCH_SPEC="torch" ...` for PyTorch's CUDA build): the CUDA-marked tests, then fit,
# training (AMP), synthesis and DeepSpeech-port figures on CUDA beside the CPU. Without CUDA: the CPU rows, exit 0.
.PHONY: gpu-check
gpu-check: setup
	$(BIN)/python benchmarks/gpu_check.py
