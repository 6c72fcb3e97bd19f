# Quick start: `make demo` (set up + run the whole job on a built-in input), `make test` (set up + run the tests).
# Both create .venv on first use. CUDA users: `make TORCH_SPEC="torch" demo` takes PyTorch's default (CUDA) build.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup test test-fast demo bench clean tools blender optional-tools

# Export and viewer tools (tests and `dr2 export --format fbx`): the Khronos glTF validator and three.js
# from npm (package-lock.json), and Blender as a Python module in its own venv (PyPI's bpy 4.2 needs Python 3.11, ~1 GB).
BLENDER_PYTHON ?= python3.11
BLENDER_VENV ?= .venv-blender

tools: node_modules/.package-lock.json blender

# `make test` tries to install them; where one cannot be installed (no npm, no Python 3.11) its tests skip and say so.
optional-tools:
	-@$(MAKE) --no-print-directory tools || echo "note: export/viewer tools not all installed; their tests will skip"

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

blender: $(BLENDER_VENV)/.installed

$(BLENDER_VENV)/.installed:
	$(BLENDER_PYTHON) -m venv $(BLENDER_VENV)
	$(BLENDER_VENV)/bin/pip install --quiet "bpy==4.2.*"
	touch $@

setup: $(VENV)/.installed

# torch first, pinned to the CPU wheel here, so the range in requirements.txt installs nothing larger.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

test: setup optional-tools
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

demo: setup
	$(BIN)/dr2 --workspace demo-work demo

bench: setup
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(BLENDER_VENV) node_modules demo-work dr2-work .pytest_cache

# On a CUDA machine (with `make TORCH_SPEC="torch" ...` for PyTorch's CUDA build): the CUDA-marked tests, then fit,
# training (AMP), synthesis and DeepSpeech-port figures on CUDA beside the CPU. Without CUDA: the CPU rows, exit 0.
.PHONY: gpu-check
gpu-check: setup
	$(BIN)/python benchmarks/gpu_check.py
