#!/usr/bin/env bash
# Get llama.cpp's GGUF converter (and optionally build its quantizer and server) from PyPI alone:
# the llama-cpp-python source distribution vendors llama.cpp, with convert_hf_to_gguf.py,
# its own gguf-py and the llama-quantize and llama-server sources.
# Usage: scripts/get_llama_cpp.sh [DEST]      (default var/llama.cpp; set LLAMA_CPP_DIR to DEST)
#        BUILD_QUANTIZE=1 scripts/get_llama_cpp.sh   also builds DEST/build/bin/llama-quantize (~4 min on 2 cores)
#        BUILD_SERVER=1 scripts/get_llama_cpp.sh     also builds DEST/build/bin/llama-server (serves a GGUF over /v1)
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
# The real path: CMake bakes it into the binaries' RUNPATH and every object's command line, so a build
# through a symlinked var/ (a worktree's) would recompile everything and break when the link goes.
DEST="$(cd "$DEST" && pwd -P)"
# Only the requested targets are built. The server gets no web UI (LLAMA_BUILD_UI and the prebuilt
# download are off): nothing is fetched at build time, and the API it serves is the same.
TARGETS=()
if [ "${BUILD_QUANTIZE:-0}" = "1" ] && [ ! -x "$DEST/build/bin/llama-quantize" ]; then TARGETS+=(llama-quantize); fi
if [ "${BUILD_SERVER:-0}" = "1" ] && [ ! -x "$DEST/build/bin/llama-server" ]; then TARGETS+=(llama-server); fi
# A portable x86-64-v3 build (AVX2, FMA, F16C), not -march=native: a VM may advertise AMX that then faults
# (SIGILL in ggml's AMX matmul, seen on this project's build machine). LLAMA_CPU_FLAGS=-DGGML_NATIVE=ON for native.
CPU_FLAGS="${LLAMA_CPU_FLAGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON}"
if [ "${#TARGETS[@]}" -gt 0 ]; then
  SERVER=OFF  # the server's CMake targets are only defined when it is on
  if [ "${BUILD_SERVER:-0}" = "1" ]; then SERVER=ON; fi
  cmake -S "$DEST" -B "$DEST/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_SERVER="$SERVER" \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF $CPU_FLAGS >/dev/null
  cmake --build "$DEST/build" --target "${TARGETS[@]}" -j"$(nproc)" >/dev/null
fi
echo "llama.cpp converter in $DEST (export LLAMA_CPP_DIR=$DEST)"
for tool in llama-quantize llama-server; do
  if [ -x "$DEST/build/bin/$tool" ]; then echo "$tool in $DEST/build/bin"; fi
done
