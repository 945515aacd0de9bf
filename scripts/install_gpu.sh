#!/usr/bin/env bash
# GPU host install (run by `make install-gpu` / `GPU=1 make install`): the pinned torch from PyTorch's
# CUDA wheel index, everything else with torch held at that version, bitsandbytes, Unsloth, then checks
# that torch is unchanged and sees a GPU. Fails instead of leaving a venv that would train on the CPU.
# Usage: scripts/install_gpu.sh [VENV_DIR]   (default .venv)
#   CUDA=130      PyTorch's wheel index cu130 = CUDA 13.0 (needs an NVIDIA driver >= 580; CUDA=126 for
#                 older drivers). https://download.pytorch.org/whl/cuXYZ lists what each torch is built for.
#   TORCH=2.13.0  the torch version the rest of requirements.txt is pinned against.
set -euo pipefail
VENV="${1:-.venv}"
PY="$VENV/bin/python"
TORCH="${TORCH:-2.13.0}"
CUDA="${CUDA:-130}"
INDEX="${TORCH_INDEX:-https://download.pytorch.org/whl/cu$CUDA}"
BITSANDBYTES="${BITSANDBYTES:-0.50.2}"
PIN="$(mktemp)"
trap 'rm -f "$PIN"' EXIT
echo "torch==$TORCH" > "$PIN"  # matches the local build label too (2.13.0+cu130)
# torch brings its CUDA runtime and triton from the same index; torchvision must be the matching build.
"$PY" -m pip install -q "torch==$TORCH" torchvision --index-url "$INDEX"
"$PY" -m pip install -q -c "$PIN" -r requirements.txt
"$PY" -m pip install -q -c "$PIN" "bitsandbytes==$BITSANDBYTES"
# Unsloth and its pure-Python requirements, without xformers (optional: Unsloth uses PyTorch's SDPA).
bash scripts/install_unsloth_cpu.sh "$VENV"
PYTHON="$PY" bash scripts/get_llama_cpp.sh var/llama.cpp
"$PY" - "$TORCH" "$CUDA" <<'PYCHECK'
import sys

import torch

want, cuda = sys.argv[1], sys.argv[2]
problems = []
if torch.__version__.split("+")[0] != want:
    problems.append(f"torch is {torch.__version__}, not {want}: a package replaced it")
built = (torch.version.cuda or "").replace(".", "")
if not built.startswith(cuda[:2]):
    problems.append(f"torch is built for CUDA {torch.version.cuda}, not cu{cuda}")
if not torch.cuda.is_available():
    problems.append("torch.cuda.is_available() is False: check the NVIDIA driver (nvidia-smi) against CUDA " + cuda)
for name in ("triton", "bitsandbytes", "unsloth"):
    try:
        __import__(name)
    except Exception as exc:  # noqa: BLE001 - report every import that fails
        problems.append(f"import {name} failed: {exc}")
if problems:
    sys.exit("GPU install check failed:\n  " + "\n  ".join(problems))
print(f"GPU install ok: torch {torch.__version__} (CUDA {torch.version.cuda}) on {torch.cuda.get_device_name(0)}, "
      f"{torch.cuda.device_count()} GPU(s) visible")
PYCHECK
