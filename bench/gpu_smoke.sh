#!/usr/bin/env bash
# The GPU smoke test: install check, both backends on a dense ~0.6B and a 2-layer MoE Qwen3 built from
# configs (random weights, no download), the assistant mask, merge + GGUF; one table at the end.
# About 5-8 minutes on one H100/H200; without a GPU it says so, runs the same paths at tiny sizes and exits 0.
#
#   bench/gpu_smoke.sh                       with this checkout's .venv (or PYTHON=...)
#   bench/gpu_smoke.sh --download DIR [FREEZE]
#        on a machine that reaches PyPI: `pip download --no-deps` the wheels the offline mode installs, at
#        most 64 MiB in all (a group that does not fit is left out and named in DIR/skipped.json).
#        FREEZE: `python3 -m pip freeze` of the GPU host's image; packages it already has are not fetched.
#        SMOKE_PYVER (the GPU host's Python, default 3.12) and SMOKE_PLATFORM (default manylinux_2_28_x86_64
#        and older tags) pick the wheels; --offline refuses a folder made for another Python version.
#   bench/gpu_smoke.sh --offline DIR
#        on a GPU host that reaches no registry and brings its own python3 (PYTHON=...) with torch,
#        transformers, peft, accelerate (and triton): the wheels of DIR go into a folder on PYTHONPATH (the
#        image's torch is kept), then the training entry module runs without Django. Parts whose wheels were
#        left out are skipped with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=$((64 * 1024 * 1024))

if [ "${1:-}" = "--download" ]; then
  DIR="${2:?usage: bench/gpu_smoke.sh --download DIR [FREEZE]}"
  FREEZE="${3:-}"
  PY="${PYTHON:-.venv/bin/python}"
  mkdir -p "$DIR"
  exec "$PY" bench/smoke_wheels.py "$DIR" "$BUDGET" "$FREEZE"
fi

SKIPPED=""
if [ "${1:-}" = "--offline" ]; then
  DIR="${2:?usage: bench/gpu_smoke.sh --offline DIR}"
  PY="${PYTHON:-python3}"
  HAVE_VER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  WANT_VER="$(cat "$DIR/python-version.txt" 2>/dev/null || echo "$HAVE_VER")"
  if [ "$HAVE_VER" != "$WANT_VER" ]; then
    echo "The wheels in $DIR are for Python $WANT_VER, this is $HAVE_VER: download again with SMOKE_PYVER=$HAVE_VER" >&2
    exit 2
  fi
  export SMOKE_TORCH_BEFORE="$("$PY" -c 'import torch; print(torch.__version__)')"
  # Into a folder of its own on PYTHONPATH: the image's packages (its torch above all) stay as they are.
  SITE="$(mktemp -d)/site"
  shopt -s nullglob
  WHEELS=("$DIR"/*.whl)
  if [ ${#WHEELS[@]} -gt 0 ]; then
    "$PY" -m pip install -q --no-index --no-deps --target "$SITE" "${WHEELS[@]}"
  fi
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  if [ -z "${LLAMA_CPP_DIR:-}" ] && [ -f "$DIR/llama.cpp/convert_hf_to_gguf.py" ]; then
    export LLAMA_CPP_DIR="$DIR/llama.cpp"
  fi
  [ -f "$DIR/skipped.json" ] && SKIPPED="$(cat "$DIR/skipped.json")"
else
  PY="${PYTHON:-.venv/bin/python}"
  export SMOKE_TORCH_BEFORE="$("$PY" -c 'import torch; print(torch.__version__)')"
fi

# No Django anywhere below: the entry module and merge run as plain Python, as in the worker's child.
unset DJANGO_SETTINGS_MODULE
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
exec "$PY" bench/gpu_smoke.py --skipped "$SKIPPED"
