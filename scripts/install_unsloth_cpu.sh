#!/usr/bin/env bash
# Install Unsloth without its CUDA-only dependencies (xformers, bitsandbytes, triton,
# torchvision), so the unsloth backend runs on the CPU fallback in CI and on laptops.
# On a GPU host install Unsloth normally instead (`pip install unsloth==2026.10.9`).
# Usage: scripts/install_unsloth_cpu.sh [VENV_DIR|PYTHON]   (default .venv)
set -euo pipefail
PY="${1:-.venv}"
if [ -d "$PY" ]; then PY="$PY/bin/python"; fi
TORCH_BEFORE="$("$PY" -c 'import torch; print(torch.__version__)')"
PIN="$(mktemp)"
echo "torch==${TORCH_BEFORE%%+*}" > "$PIN"
# Unsloth and unsloth_zoo themselves, then their pure-Python requirements (Requires-Dist of both
# wheels, less the CUDA-only ones); packages that declare a torch dependency go in with --no-deps.
"$PY" -m pip install -q --no-deps unsloth==2026.10.9 unsloth_zoo==2026.10.9 cut_cross_entropy torchao
"$PY" -m pip install -q -c "$PIN" \
  tyro typer rich pydantic pyyaml json5 nest-asyncio structlog click "certifi>=2026.10.19" \
  sentencepiece protobuf hf_transfer diffusers einops pillow regex msgspec typing_extensions \
  filelock requests wheel packaging
rm -f "$PIN"
TORCH_AFTER="$("$PY" -c 'import torch; print(torch.__version__)')"
if [ "$TORCH_BEFORE" != "$TORCH_AFTER" ]; then
  echo "torch changed from $TORCH_BEFORE to $TORCH_AFTER: reinstall torch $TORCH_BEFORE" >&2
  exit 1
fi
"$PY" -c 'import unsloth, unsloth_zoo; print("unsloth", unsloth.__version__, "ok on torch", __import__("torch").__version__)'
