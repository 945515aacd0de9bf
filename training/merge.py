"""Adapter → merged model → GGUF (→ quantized GGUF) → Ollama Modelfile (→ ``ollama create``).

The second way to serve, llama.cpp's ``llama-server --jinja`` on the GGUF, is printed as a command.

Each external tool is optional: a missing one ends that step with a
``MissingTool`` whose message names the tool and the next step to take, and the
earlier artifacts stay usable.

The worker runs this module as a child process (``python -m training.merge``,
no Django), like training: merging loads the whole bf16 base model (about 61 GB
for Qwen3-Coder-30B-A3B) into host RAM, and an out-of-memory kill must end the
child, not the worker. Each step is printed as one ``GSCTUNE_MERGE_STEP`` line,
the result as one ``GSCTUNE_MERGE_RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

QUANT_TYPES = ("Q8_0", "Q4_K_M")
# GGUF size relative to the bf16 checkpoint: Q8_0 stores 8.5 bits a weight, Q4_K_M about 4.9.
GGUF_RATIO = {"Q8_0": 8.5 / 16, "Q4_K_M": 4.9 / 16}
STEP_PREFIX = "GSCTUNE_MERGE_STEP "
RESULT_PREFIX = "GSCTUNE_MERGE_RESULT "
ERROR_PREFIX = "GSCTUNE_ERROR "
TINY_MARKER = "gsctune_tiny.json"
GET_LLAMA_CPP = "run scripts/get_llama_cpp.sh and set LLAMA_CPP_DIR=var/llama.cpp (see README, GGUF / llama.cpp)"
SERVE_PORT = 8080  # llama-server's own default
SERVE_CTX = 128000  # the context git-smart-commit asks native Ollama for (num_ctx); /v1 compacts at 50k-75k
SERVE_ALIAS = "gsc-student"


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
                    outtype: str = "bf16", pretokenizer_fallback: str | None = None, python: str | None = None) -> Path:
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
        missing = [line.strip() for line in tail.splitlines() if "No module named" in line]
        if missing:
            raise MissingTool(f"The GGUF converter lacks a Python package ({missing[-1]}): install it into this venv.")
        raise RuntimeError(f"GGUF conversion failed (exit {proc.returncode}):\n{tail}")
    return out_file


def built_tool(name: str, llama_dir: str | Path | None = None) -> Path | None:
    """A llama.cpp binary on PATH or built inside the llama.cpp folder (``build/bin``), else None."""
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    try:
        root = llama_cpp_dir(llama_dir)
    except MissingTool:
        return None
    for cand in (root / "build" / "bin" / name, root / name):
        if cand.exists():
            return cand
    return None


def find_quantizer(llama_dir: str | Path | None = None) -> Path:
    """llama-quantize on PATH or built inside the llama.cpp folder."""
    tool = built_tool("llama-quantize", llama_dir)
    if tool is None:
        raise MissingTool("llama-quantize not found (not on PATH, not in LLAMA_CPP_DIR/build/bin): "
                          "run BUILD_QUANTIZE=1 scripts/get_llama_cpp.sh (cmake + a C++ compiler, ~4 min on 2 cores). "
                          "The f16 GGUF is usable as it is.")
    return tool


def llama_server_command(gguf_file: str | Path, llama_dir: str | Path | None = None, alias: str = SERVE_ALIAS,
                         port: int = SERVE_PORT, ctx: int = SERVE_CTX) -> list[str]:
    """``llama-server --jinja`` on the GGUF: its own chat template renders the tools and parses tool calls.

    The built binary's path when there is one (``make llama-tools``), else plain ``llama-server``.
    """
    tool = built_tool("llama-server", llama_dir)
    return [str(tool.absolute() if tool else "llama-server"), "--jinja", "-m", str(Path(gguf_file).resolve()), "--alias", alias,
            "--host", "127.0.0.1", "--port", str(port), "--ctx-size", str(ctx)]


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


def ollama_create(name: str, modelfile: str | Path) -> str:
    """Register the model with a local Ollama, when the ``ollama`` binary is on PATH."""
    if not shutil.which("ollama"):
        raise MissingTool(f"ollama is not on PATH: install Ollama, then run `ollama create {name} -f {modelfile}`.")
    proc = subprocess.run(["ollama", "create", name, "-f", str(modelfile)], capture_output=True, text=True,
                          cwd=Path(modelfile).parent)
    if proc.returncode != 0:
        raise RuntimeError(f"ollama create failed: {proc.stderr.strip()[-2000:]}")
    return name


def checkpoint_bytes(model: str | Path) -> int | None:
    """Size of a model's weights on disk: a local folder's safetensors, or the hub index's total_size."""
    path = Path(model).expanduser()
    if path.is_dir():
        files = list(path.glob("*.safetensors"))
        return sum(f.stat().st_size for f in files) or None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - ships with transformers
        return None
    index = try_to_load_from_cache(str(model), "model.safetensors.index.json")
    if isinstance(index, str):
        return int(json.loads(Path(index).read_text()).get("metadata", {}).get("total_size") or 0) or None
    single = try_to_load_from_cache(str(model), "model.safetensors")
    return Path(single).stat().st_size if isinstance(single, str) else None


def disk_plan(base_bytes: int, quant: str | None) -> dict[str, int]:
    """Bytes each file of the merge takes: merged model, the converter's GGUF, the quantized GGUF."""
    plan = {"merged": base_bytes}
    if quant == "Q8_0":  # the converter writes Q8_0 itself: no 16-bit GGUF in between
        plan["gguf"] = int(base_bytes * GGUF_RATIO["Q8_0"])
    else:
        plan["gguf"] = base_bytes
        if quant:
            plan["quantized"] = int(base_bytes * GGUF_RATIO[quant])
    return plan


def check_disk(out: Path, base_model: str, quant: str | None) -> str:
    """Say how much disk the merge needs and refuse to start without it (nothing half-written)."""
    size = checkpoint_bytes(base_model)
    if size is None:
        return f"disk needed: unknown (no safetensors found for {base_model}); free in {out}: " \
               f"{shutil.disk_usage(out).free / 1e9:.1f} GB"
    need = sum(disk_plan(size, quant).values())
    free = shutil.disk_usage(out).free
    text = (f"disk needed: about {need / 1e9:.1f} GB (merged model {size / 1e9:.1f} GB + GGUF); "
            f"free in {out}: {free / 1e9:.1f} GB")
    if free < need:
        raise RuntimeError(f"Not enough disk for the merge: {text}. Free space or set GSCTUNE_DATA_DIR elsewhere.")
    return text


def export_model(adapter_dir: str | Path, out_dir: str | Path, quant: str | None = "Q8_0",
                 llama_dir: str | Path | None = None, ollama_name: str | None = None,
                 base_model: str | None = None, data_dir: str | Path | None = None, log=print) -> dict:
    """The whole merge action; returns what was produced and the message of every step that was skipped.

    ``log`` gets each finished step once; a skipped step's message goes to ``missing`` only.
    """
    from peft import PeftConfig

    from training.modelfile import training_system_prompt, write_modelfile

    if quant and quant not in QUANT_TYPES:
        raise ValueError(f"Quantization must be one of {', '.join(QUANT_TYPES)}, not {quant!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = base_model or PeftConfig.from_pretrained(adapter_dir).base_model_name_or_path
    result: dict = {"merged_dir": None, "gguf": None, "quantized": None, "modelfile": None, "ollama": None,
                    "llama_server": None, "missing": []}
    log(check_disk(out, base, quant))
    merged = merge_adapter(adapter_dir, out / "merged", base_model=base)
    result["merged_dir"] = str(merged)
    log(f"merged model saved to {merged}")
    direct = quant == "Q8_0"
    outtype = "q8_0" if direct else "bf16"
    try:
        gguf = convert_to_gguf(merged, out / f"model-{'Q8_0' if direct else 'bf16'}.gguf", llama_dir, outtype=outtype)
    except MissingTool as exc:
        result["missing"].append(str(exc))
        return result
    result["gguf"] = str(gguf)
    log(f"GGUF ({outtype}) written to {gguf}")
    final = gguf
    if direct:
        result["quantized"] = str(gguf)
    elif quant:
        try:
            final = quantize(gguf, out / f"model-{quant}.gguf", quant, llama_dir)
            result["quantized"] = str(final)
            log(f"quantized to {final}")
        except MissingTool as exc:
            result["missing"].append(str(exc))
    system = training_system_prompt(data_dir)
    result["modelfile"] = str(write_modelfile(final, out / "Modelfile", merged, base, system))
    log(f"Modelfile written to {result['modelfile']}"
        + ("" if system else " (no system prompt: the training data has none)"))
    alias = ollama_name or SERVE_ALIAS
    result["llama_server"] = shlex.join(llama_server_command(final, llama_dir, alias))
    log(f"or serve the GGUF with llama.cpp: {result['llama_server']} "
        f"(then git-smart-commit --api-base http://127.0.0.1:{SERVE_PORT}/v1 --model {alias})")
    if ollama_name:
        try:
            result["ollama"] = ollama_create(ollama_name, out / "Modelfile")
            log(f"ollama model {ollama_name} created")
        except MissingTool as exc:
            result["missing"].append(str(exc))
    return result


def main(argv: list[str] | None = None) -> int:
    """The merge as a child process: steps and the result on stdout, no Django."""
    parser = argparse.ArgumentParser(description="Merge a LoRA adapter and export GGUF + Modelfile.")
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--quant", default="Q8_0", help="Q8_0, Q4_K_M or '' (16-bit GGUF only)")
    parser.add_argument("--base-model")
    parser.add_argument("--data-dir", help="The training data, for the Modelfile's system prompt")
    parser.add_argument("--llama-dir")
    parser.add_argument("--ollama-name")
    ns = parser.parse_args(argv)
    try:
        result = export_model(ns.adapter, ns.out, quant=ns.quant or None, llama_dir=ns.llama_dir,
                              ollama_name=ns.ollama_name or None, base_model=ns.base_model, data_dir=ns.data_dir,
                              log=lambda text: print(STEP_PREFIX + text, flush=True))
    except Exception as exc:  # the parent stores this line as the job's error
        print(ERROR_PREFIX + json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        raise
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
