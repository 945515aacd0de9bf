# gsctune: `make run` serves the app with a worker; `make test` runs the whole suite.
# Both set everything up themselves in a local virtual environment (.venv).
# On a GPU host (nvidia-smi on the PATH, or GPU=1) every target installs with `make install-gpu` instead:
# the CUDA build of the same torch, bitsandbytes and Unsloth; CUDA=130 picks PyTorch's wheel index (CUDA 13.0).

VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed-$(shell cat requirements.txt scripts/install_unsloth_cpu.sh scripts/get_llama_cpp.sh 2>/dev/null | sha1sum | cut -c1-10)
GPU ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo 1 || echo 0)
CUDA ?= 130
GPU_STAMP := $(VENV)/.installed-gpu-cu$(CUDA)-$(shell cat requirements.txt scripts/install_gpu.sh scripts/install_unsloth_cpu.sh scripts/get_llama_cpp.sh 2>/dev/null | sha1sum | cut -c1-10)
PYTEST_ARGS ?=
# MARK narrows both test steps to a marker expression (make test MARK=slow); -m in PYTEST_ARGS would replace
# theirs. A step the expression leaves empty (pytest's exit status 5) is not a failure.
MARK ?=
SELECT := $(if $(MARK), and ($(MARK)),)
TEST_WORKERS ?= 2

.PHONY: install install-gpu run worker test test-fast lint migrate quantizer llama-tools clean

$(GPU_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	CUDA=$(CUDA) bash scripts/install_gpu.sh $(VENV)
	rm -f $(VENV)/.installed-*
	touch $@

install-gpu: $(GPU_STAMP)

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	# torch first: this exact version is a CPU build; any other pulls a multi-GB CUDA build.
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -r requirements.txt
	# Unsloth without its CUDA-only dependencies (on a GPU host: pip install unsloth normally).
	bash scripts/install_unsloth_cpu.sh $(VENV)
	# llama.cpp's GGUF converter, from PyPI's llama-cpp-python source distribution.
	PYTHON=$(PY) bash scripts/get_llama_cpp.sh var/llama.cpp
	$(PY) -c "import torch, sys; v = torch.__version__; print('torch', v); sys.exit(0 if v.startswith('2.13.0') else 'torch changed: ' + v)"
	rm -f $(VENV)/.installed-*
	touch $@

ifeq ($(GPU),1)
install: $(GPU_STAMP)
else
install: $(STAMP)
endif

migrate: install
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0

run: migrate
	$(PY) manage.py ensure_admin
	bash scripts/run.sh

worker: install
	$(PY) -m celery -A gsctune worker --pool threads -Q $${WORKER_QUEUES:-default,gpu} -l INFO

# Lint, then the suite in two steps: most tests on TEST_WORKERS processes (pytest-xdist), then the
# browser and real-worker tests one at a time (they start servers and workers of their own).
test: install
	bash scripts/ensure_chromium.sh
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "(not browser and not worker)$(SELECT)" -n $(TEST_WORKERS) $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(PY) -m pytest -m "(browser or worker)$(SELECT)" $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-fast: install
	$(PY) -m pytest -m "not slow and not browser" -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

quantizer: install
	# Builds llama.cpp's llama-quantize (cmake + g++, about 4 minutes on 2 cores).
	BUILD_QUANTIZE=1 PYTHON=$(PY) bash scripts/get_llama_cpp.sh var/llama.cpp

llama-tools: install
	# llama-quantize and llama-server (serves a GGUF over /v1; no web UI, nothing downloaded): cmake + g++.
	BUILD_QUANTIZE=1 BUILD_SERVER=1 PYTHON=$(PY) bash scripts/get_llama_cpp.sh var/llama.cpp

clean:
	rm -rf var/test
