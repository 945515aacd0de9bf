"""Adapter → merged model → GGUF (→ quantized GGUF) → Ollama Modelfile (→ ``ollama create``).

Each external tool is optional: a missing one ends that step with a
``MissingTool`` whose message names the tool and the next step to take, and the
earlier artifacts stay usable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

QUANT_TYPES = ("Q8_0", "Q4_K_M")
TINY_MARKER = "gsctune_tiny.json"
SYSTEM_PROMPT = (
    "You turn a git working tree into clean commits. Answer with JSON only: "
    '{"commits": [{"subject": "type(scope): description", "files": [...], "body": "..."}], "gitignore": [...]}'
)
GET_LLAMA_CPP = "run scripts/get_llama_cpp.sh and set LLAMA_CPP_DIR=var/llama.cpp (see README, GGUF / llama.cpp)"


class MissingTool(RuntimeError):
    """An optional external tool is not available; the message says how to get it."""


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path, base_model: str | None = None) -> Path:
    """Fold the LoRA adapter into its base model and save a plain transformers model folder."""
    from peft import PeftConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_dir, out = Path(adapter_dir), Path(out_dir)
    base = base_model or PeftConfig.from_pretrained(adapter_dir).base_model_name_or_path
    model = AutoModelForCausalLM.from_pretrained(base, dtype="auto")
    merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    merged.save_pretrained(out)
    tokenizer_src = adapter_dir if (adapter_dir / "tokenizer_config.json").exists() else base
    AutoTokenizer.from_pretrained(tokenizer_src).save_pretrained(out)
    marker = Path(base) / TINY_MARKER
    if marker.exists():
        shutil.copy(marker, out / TINY_MARKER)
    return out


def llama_cpp_dir(explicit: str | Path | None = None) -> Path:
    """The llama.cpp source folder holding convert_hf_to_gguf.py (setting or LLAMA_CPP_DIR)."""
    value = explicit or os.environ.get("LLAMA_CPP_DIR")
    if not value:
        raise MissingTool(f"llama.cpp's converter is not configured (LLAMA_CPP_DIR is unset): {GET_LLAMA_CPP}.")
    path = Path(value)
    if not (path / "convert_hf_to_gguf.py").exists():
        raise MissingTool(f"No convert_hf_to_gguf.py in LLAMA_CPP_DIR={path}: {GET_LLAMA_CPP}.")
    return path


# Runs the converter in-process with one change: a BPE pre-tokenizer it does not know (a tokenizer
# trained on the spot, as in tiny models) maps to a known one instead of aborting. Real Qwen
# tokenizers are recognised and never reach the fallback.
_CONVERT_SHIM = """
import runpy, sys
root, fallback = sys.argv[1], sys.argv[2]
sys.path[:0] = [root, root + "/gguf-py"]
from conversion import base
original = base.TextModel.get_vocab_base_pre
def get_vocab_base_pre(self, tokenizer):
    try:
        return original(self, tokenizer)
    except NotImplementedError:
        if fallback == "-":
            raise
        print(f"gsctune: unknown BPE pre-tokenizer, using {fallback!r}", file=sys.stderr)
        return fallback
base.TextModel.get_vocab_base_pre = get_vocab_base_pre
sys.argv = [root + "/convert_hf_to_gguf.py"] + sys.argv[3:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def convert_to_gguf(model_dir: str | Path, out_file: str | Path, llama_dir: str | Path | None = None,
                    outtype: str = "f16", pretokenizer_fallback: str | None = None, python: str | None = None) -> Path:
    """Convert a merged HF model folder to one GGUF file with llama.cpp's converter."""
    root = llama_cpp_dir(llama_dir)
    model_dir, out_file = Path(model_dir), Path(out_file)
    if pretokenizer_fallback is None and (model_dir / TINY_MARKER).exists():
        pretokenizer_fallback = "qwen2"
    cmd = [python or sys.executable, "-c", _CONVERT_SHIM, str(root), pretokenizer_fallback or "-",
           str(model_dir), "--outfile", str(out_file), "--outtype", outtype]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"NO_LOCAL_GGUF": "1"})
    if proc.returncode != 0 or not out_file.exists():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        if "No module named" in tail:
            raise MissingTool(f"The GGUF converter lacks a Python package:\n{tail}\nInstall it into this venv.")
        raise RuntimeError(f"GGUF conversion failed (exit {proc.returncode}):\n{tail}")
    return out_file


def find_quantizer(llama_dir: str | Path | None = None) -> Path:
    """llama-quantize on PATH or built inside the llama.cpp folder."""
    on_path = shutil.which("llama-quantize")
    if on_path:
        return Path(on_path)
    try:
        root = llama_cpp_dir(llama_dir)
    except MissingTool:
        root = None
    if root is not None:
        for cand in (root / "build" / "bin" / "llama-quantize", root / "llama-quantize"):
            if cand.exists():
                return cand
    raise MissingTool("llama-quantize not found (not on PATH, not in LLAMA_CPP_DIR/build/bin): "
                      "run BUILD_QUANTIZE=1 scripts/get_llama_cpp.sh (cmake + a C++ compiler, ~4 min on 2 cores). "
                      "The f16 GGUF is usable as it is.")


def quantize(gguf_file: str | Path, out_file: str | Path, qtype: str = "Q8_0",
             llama_dir: str | Path | None = None) -> Path:
    """Quantize an f16 GGUF (Q8_0 by default, Q4_K_M on request)."""
    if qtype not in QUANT_TYPES:
        raise ValueError(f"Quantization must be one of {', '.join(QUANT_TYPES)}, not {qtype!r}")
    tool = find_quantizer(llama_dir)
    proc = subprocess.run([str(tool), str(gguf_file), str(out_file), qtype], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"llama-quantize failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return Path(out_file)


def write_modelfile(gguf_file: str | Path, out_file: str | Path, system: str = SYSTEM_PROMPT,
                    temperature: float = 0.2, num_ctx: int = 8192) -> Path:
    """An Ollama Modelfile: the GGUF, a ChatML template, the short system prompt and the seed's parameters."""
    template = (
        "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
        "<|im_start|>assistant\n"
    )
    text = (
        f"FROM ./{Path(gguf_file).name}\n"
        f'TEMPLATE """{template}"""\n'
        f"SYSTEM {json.dumps(system)}\n"
        f"PARAMETER temperature {temperature}\n"
        f"PARAMETER num_ctx {num_ctx}\n"
        'PARAMETER stop "<|im_end|>"\n'
        'PARAMETER stop "<|endoftext|>"\n'
    )
    out = Path(out_file)
    out.write_text(text, encoding="utf-8")
    return out


def ollama_create(name: str, modelfile: str | Path) -> str:
    """Register the model with a local Ollama, when the ``ollama`` binary is on PATH."""
    if not shutil.which("ollama"):
        raise MissingTool(f"ollama is not on PATH: install Ollama, then run `ollama create {name} -f {modelfile}`.")
    proc = subprocess.run(["ollama", "create", name, "-f", str(modelfile)], capture_output=True, text=True,
                          cwd=Path(modelfile).parent)
    if proc.returncode != 0:
        raise RuntimeError(f"ollama create failed: {proc.stderr.strip()[-2000:]}")
    return name


def export_model(adapter_dir: str | Path, out_dir: str | Path, quant: str | None = "Q8_0",
                 llama_dir: str | Path | None = None, ollama_name: str | None = None,
                 base_model: str | None = None, log=print) -> dict:
    """The whole merge action; returns what was produced and the message for every step that was skipped."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result: dict = {"merged_dir": None, "gguf": None, "quantized": None, "modelfile": None, "ollama": None,
                    "missing": []}
    merged = merge_adapter(adapter_dir, out / "merged", base_model=base_model)
    result["merged_dir"] = str(merged)
    log(f"merged model saved to {merged}")
    try:
        gguf = convert_to_gguf(merged, out / "model-f16.gguf", llama_dir)
    except MissingTool as exc:
        result["missing"].append(str(exc))
        log(str(exc))
        return result
    result["gguf"] = str(gguf)
    log(f"GGUF written to {gguf}")
    final = gguf
    if quant:
        try:
            final = quantize(gguf, out / f"model-{quant}.gguf", quant, llama_dir)
            result["quantized"] = str(final)
            log(f"quantized to {final}")
        except MissingTool as exc:
            result["missing"].append(str(exc))
            log(str(exc))
    result["modelfile"] = str(write_modelfile(final, out / "Modelfile"))
    log(f"Modelfile written to {result['modelfile']}")
    if ollama_name:
        try:
            result["ollama"] = ollama_create(ollama_name, out / "Modelfile")
            log(f"ollama model {ollama_name} created")
        except MissingTool as exc:
            result["missing"].append(str(exc))
            log(str(exc))
    return result
