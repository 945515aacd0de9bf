#!/usr/bin/env bash
# Get llama.cpp's GGUF converter (and optionally build its quantizer) from PyPI alone:
# the llama-cpp-python source distribution vendors llama.cpp, with convert_hf_to_gguf.py,
# its own gguf-py and the llama-quantize sources.
# Usage: scripts/get_llama_cpp.sh [DEST]      (default var/llama.cpp; set LLAMA_CPP_DIR to DEST)
#        BUILD_QUANTIZE=1 scripts/get_llama_cpp.sh   also builds DEST/build/bin/llama-quantize (~4 min on 2 cores)
set -euo pipefail
DEST="${1:-${LLAMA_CPP_DIR:-var/llama.cpp}}"
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
PY="${PYTHON:-.venv/bin/python}"
if [ ! -f "$DEST/convert_hf_to_gguf.py" ]; then
  TMP="$(mktemp -d)"
  "$PY" -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$TMP"
  tar -xzf "$TMP"/llama_cpp_python-*.tar.gz -C "$TMP"
  mkdir -p "$(dirname "$DEST")"
  rm -rf "$DEST"
  mv "$TMP"/llama_cpp_python-*/vendor/llama.cpp "$DEST"
  rm -rf "$TMP"
fi
if [ "${BUILD_QUANTIZE:-0}" = "1" ] && [ ! -x "$DEST/build/bin/llama-quantize" ]; then
  cmake -S "$DEST" -B "$DEST/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
  cmake --build "$DEST/build" --target llama-quantize -j"$(nproc)" >/dev/null
fi
echo "llama.cpp converter in $DEST (export LLAMA_CPP_DIR=$DEST)"
