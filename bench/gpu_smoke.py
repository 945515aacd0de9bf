"""Everything a first GPU run should show, as one table (run it through bench/gpu_smoke.sh).

Parts: the install (torch, CUDA, triton, bitsandbytes, Unsloth; torch unchanged by the wheels), the assistant
mask decoded from the trainer's labels, both backends on a dense Qwen3 (~0.6B on a GPU, tiny on a CPU) built
from a config with random weights, their tokens/s ratio and loss curves, a 2-layer Qwen3-MoE with fused
experts on both backends, then merge + 16-bit GGUF + Modelfile of the dense model. Training goes through
``python -m training.entry`` without Django, as the worker runs it. Without a GPU the GPU-sized parts run at
tiny sizes (so every code path is still checked) and the table says so; exit 1 only when a part fails.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROWS: list[tuple[str, str, str]] = []
SYSTEM = "You group the hunks of a working tree into commits. Call one tool per answer."
TOOLS = [
    {"type": "function", "function": {"name": "emit_commit", "description": "Record one commit.",
                                      "parameters": {"type": "object", "properties": {"commit": {"type": "object"}}}}},
    {"type": "function", "function": {"name": "finalize_commits", "description": "Finish.",
                                      "parameters": {"type": "object", "properties": {
                                          "skipped_hunks": {"type": "array"}}}}},
]
WORDS = ("def return self value config parser hunk commit file path error test import class async await list "
         "dict result token model train step loss branch merge update remove add fix feat docs").split()


def row(part: str, status: str, detail: str = "") -> None:
    ROWS.append((part, status, detail))
    print(f"[{status}] {part}: {detail}", flush=True)


def version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def imports(name: str) -> str | None:
    """None when ``import name`` works in a fresh interpreter, else the last line of its error."""
    proc = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=300)
    if proc.returncode == 0:
        return None
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return lines[-1][:200] if lines else f"exit {proc.returncode}"


# --------------------------------------------------------------------------- install


def install_check(skipped: dict[str, str]) -> dict:
    import torch

    cuda = torch.cuda.is_available()
    before = os.environ.get("SMOKE_TORCH_BEFORE")
    row("torch", "ok", f"{torch.__version__}, CUDA {torch.version.cuda or 'none'}")
    if before:
        row("torch unchanged", "ok" if before == torch.__version__ else "FAIL",
            f"{before} before the wheels, {torch.__version__} after")
    if cuda:
        row("GPU", "ok", f"{torch.cuda.get_device_name(0)}, {torch.cuda.device_count()} visible, "
                         f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
    else:
        row("GPU", "skip", "no CUDA device: GPU-sized parts run at tiny sizes on the CPU")
    for name in ("transformers", "peft", "accelerate", "trl", "datasets"):
        v = version(name)
        row(name, "ok" if v else "FAIL", v or "not installed")
    have = {}
    for name, why_needed in (("triton", "TRL's loss kernel on CUDA"), ("bitsandbytes", "4-bit and 8-bit optimizers"),
                             ("unsloth", "the unsloth backend")):
        err = imports(name)
        have[name] = err is None
        if err and name in skipped:
            row(f"import {name}", "skip", f"not installed: {skipped[name]}")
            continue
        needed_here = cuda or name == "unsloth"
        status = "ok" if err is None else ("FAIL" if needed_here and name != "bitsandbytes" else "skip")
        row(f"import {name}", status, f"{version(name) or ''} ({why_needed})" if err is None else err)
    return {"cuda": cuda, **have}


# --------------------------------------------------------------------------- data and models


def conversation(rng: random.Random, words: int) -> list[dict]:
    """One tool-call conversation of about ``words`` words of diff."""
    lines = [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(max(1, words // 8))]
    diff = "\n".join(("+" if i % 3 else "-") + line for i, line in enumerate(lines))
    subject = f"feat({rng.choice(WORDS)}): {' '.join(rng.choice(WORDS) for _ in range(4))}"
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Available hunks:\n  src/a.py::1  (+{len(lines)}/-0)\n\nDiff content:\n"
                                    f"--- src/a.py::1 ---\n{diff}"},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
            "name": "emit_commit", "arguments": {"commit": {"subject": subject, "hunks": ["src/a.py::1"]}}}}]},
        {"role": "tool", "content": f"Commit emitted: '{subject}'. Remaining unassigned hunks:"},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
            "name": "finalize_commits", "arguments": {"skipped_hunks": []}}}]},
    ]


def make_data(folder: Path, rows: int, words: int) -> list[list[dict]]:
    rng = random.Random(0)
    convs = [conversation(rng, words) for _ in range(rows)]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "train.jsonl", "w", encoding="utf-8") as fh:
        for conv in convs:
            fh.write(json.dumps({"messages": conv, "tools": TOOLS}) + "\n")
    return convs


def build_model(folder: Path, tokenizer, moe: bool, gpu: bool) -> Path:
    """A random Qwen3 / Qwen3-MoE saved like a hub model (bf16 on a GPU host), with the smoke tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config, Qwen3MoeConfig

    from training.merge import TINY_MARKER
    from training.tiny import tiny_config

    if not gpu:
        config = tiny_config(len(tokenizer), moe=moe)
    elif moe:  # Qwen3-30B-A3B's layer, two of them: fused experts, 128 of them, 8 active
        config = Qwen3MoeConfig(vocab_size=151936, hidden_size=2048, num_hidden_layers=2, num_attention_heads=32,
                                num_key_value_heads=4, head_dim=128, intermediate_size=6144, moe_intermediate_size=768,
                                num_experts=128, num_experts_per_tok=8, decoder_sparse_step=1, norm_topk_prob=True,
                                max_position_embeddings=40960, rope_theta=1e6, tie_word_embeddings=False)
    else:  # Qwen3-0.6B's shape
        config = Qwen3Config(vocab_size=151936, hidden_size=1024, num_hidden_layers=28, num_attention_heads=16,
                             num_key_value_heads=8, head_dim=128, intermediate_size=3072,
                             max_position_embeddings=40960, rope_theta=1e6, tie_word_embeddings=True)
    config.eos_token_id, config.pad_token_id, config.bos_token_id = tokenizer.eos_token_id, tokenizer.pad_token_id, None
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16 if gpu else torch.float32)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / TINY_MARKER).write_text(json.dumps({"moe": moe}))  # the GGUF converter maps our pre-tokenizer
    return folder


# --------------------------------------------------------------------------- training through the entry module


def train(name: str, base: Path, data: Path, out: Path, backend: str, steps: int, batch: int, max_length: int,
          optimizer: str) -> dict:
    """One ``python -m training.entry`` run; its metric lines summarised."""
    from training.entry import METRIC_PREFIX

    cfg = {"base_model": str(base), "data_dir": str(data), "output_dir": str(out), "backend": backend,
           "max_steps": steps, "batch_size": batch, "grad_accum": 1, "max_length": max_length,
           "optimizer": optimizer, "learning_rate": 2e-4, "warmup_ratio": 0.0, "lora_r": 16, "lora_alpha": 32,
           "seed": 1, "logging_steps": 1}
    out.mkdir(parents=True, exist_ok=True)
    (out / "cfg.json").write_text(json.dumps(cfg))
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "training.entry", "--config", str(out / "cfg.json")], cwd=ROOT,
                          capture_output=True, text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"}, timeout=900)
    (out / "stdout.log").write_text(proc.stdout + proc.stderr)
    wall = time.monotonic() - t0
    recs = [json.loads(line[len(METRIC_PREFIX):]) for line in proc.stdout.splitlines()
            if line.startswith(METRIC_PREFIX)]
    train_recs = [r for r in recs if r.get("event") == "train"]
    if proc.returncode != 0 or not train_recs:
        err = next((line for line in proc.stdout.splitlines() if line.startswith("GSCTUNE_ERROR")), "")
        tail = err or (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        row(name, "FAIL", f"exit {proc.returncode}: {str(tail)[:300]} (log {out / 'stdout.log'})")
        return {}
    rates = [r["tokens_per_s"] for r in train_recs[2:] or train_recs if r.get("tokens_per_s")]
    tps = sum(rates) / len(rates) if rates else None
    mem = max((r.get("gpu_mem_gb") or 0) for r in train_recs) or None
    losses = [r["loss"] for r in train_recs if "loss" in r]
    row(name, "ok", f"{len(train_recs)} steps in {wall:.0f} s, "
                    f"{tps:,.0f} tokens/s" if tps else f"{len(train_recs)} steps in {wall:.0f} s")
    if mem:
        row(f"{name} peak memory", "ok", f"{mem:.1f} GB allocated")
    row(f"{name} loss", "ok" if all(math.isfinite(v) for v in losses) else "FAIL",
        f"{losses[0]:.3f} -> {losses[-1]:.3f}" if losses else "no loss logged")
    return {"tps": tps, "mem": mem, "losses": losses, "out": out}


def compare(trl_run: dict, uns_run: dict, label: str) -> None:
    if not trl_run or not uns_run:
        return
    if trl_run["tps"] and uns_run["tps"]:
        row(f"{label} unsloth/trl tokens/s", "ok", f"{uns_run['tps'] / trl_run['tps']:.2f}x")
    a, b = trl_run["losses"], uns_run["losses"]
    n = min(len(a), len(b))
    if n >= 3:
        ma, mb = sum(a[:n]) / n, sum(b[:n]) / n
        cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
        var = math.sqrt(sum((x - ma) ** 2 for x in a[:n]) * sum((y - mb) ** 2 for y in b[:n])) or 1.0
        diff = max(abs(x - y) / max(abs(x), 1e-9) for x, y in zip(a, b))
        corr = cov / var
        row(f"{label} loss curves", "ok" if corr > 0.8 else "FAIL",
            f"correlation {corr:.3f}, largest step difference {diff:.1%} over {n} steps")


def mask_check(tokenizer, conv: list[dict], preview: Path | None) -> None:
    """The assistant turns exactly, decoded from gsctune's mask and (after a run) from the trainer's labels."""
    from training.assistant_mask import assistant_spans, tokenize_conversation

    text, spans = assistant_spans(tokenizer, conv, TOOLS)
    expected = "".join(text[a:b] for a, b in spans)
    enc = tokenize_conversation(tokenizer, conv, TOOLS)
    decoded = tokenizer.decode([t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if m])
    ok = decoded == expected and SYSTEM not in decoded and "Remaining unassigned" not in decoded
    trained = preview.read_text() if preview and preview.exists() else None
    where, part = "gsctune's mask", "assistant mask"
    if trained is not None:
        part = "assistant mask in training"
        ok = ok and trained == expected
        where = "the trainer's labels of example 1" + ("" if ok else ": differ from the assistant turns (truncated?)")
    row(part, "ok" if ok else "FAIL",
        f"{sum(enc['assistant_masks'])} of {len(enc['input_ids'])} tokens trained, exactly the "
        f"{len(spans)} assistant turns ({where})")
    print("---- trained text of one example (assistant turns only) ----\n" + (trained or decoded) + "\n----",
          flush=True)


def merge_check(run: dict, base: Path, data: Path, out: Path) -> None:
    from training import merge

    if not run:
        row("merge + GGUF", "skip", "no adapter (the trl run failed)")
        return
    llama = os.environ.get("LLAMA_CPP_DIR") or str(ROOT / "var" / "llama.cpp")
    t0 = time.monotonic()
    try:
        result = merge.export_model(run["out"] / "adapter", out, quant=None, llama_dir=llama, base_model=str(base),
                                    data_dir=data, log=lambda text: None)
    except Exception as exc:  # noqa: BLE001 - every failure is a table row
        row("merge + GGUF", "FAIL", f"{type(exc).__name__}: {str(exc)[:300]}")
        return
    if result["missing"]:
        row("merge", "ok", f"merged model in {result['merged_dir']}")
        row("GGUF", "skip", result["missing"][0][:300])
        return
    gguf = Path(result["gguf"])
    modelfile = Path(result["modelfile"]).read_text()
    row("merge + GGUF", "ok", f"{gguf.name} {gguf.stat().st_size / 2**20:,.1f} MiB in {time.monotonic() - t0:.0f} s")
    row("Modelfile", "ok" if modelfile.count(SYSTEM) == 1 else "FAIL", "training system prompt once")


def print_table() -> None:
    width = max(len(p) for p, _, _ in ROWS)
    print("\n| part".ljust(width + 3) + " | status | detail |")
    print("|" + "-" * (width + 2) + "|--------|--------|")
    for part, status, detail in ROWS:
        print(f"| {part.ljust(width)} | {status.ljust(6)} | {detail} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=None, help="Scratch folder (default: a new temporary one)")
    parser.add_argument("--skipped", default="", help="JSON {package: reason} of wheels left out (offline mode)")
    ns = parser.parse_args()
    import tempfile

    work = Path(ns.work or tempfile.mkdtemp(prefix="gsctune-smoke-"))
    skipped = json.loads(ns.skipped) if ns.skipped else {}
    have = install_check(skipped)
    gpu = have["cuda"]
    if not version("trl") or not version("datasets"):
        row("training", "FAIL", "trl/datasets missing: nothing to train with "
                                f"({skipped.get('trl', 'install them or use --offline with their wheels')})")
        print_table()
        return 1

    from training.tiny import CODER_TEMPLATE, train_tokenizer

    words = 700 if gpu else 60
    convs = make_data(work / "data", rows=96 if gpu else 8, words=words)
    corpus = [m["content"] for c in convs[:20] for m in c] + ["<tool_call> <function=emit_commit> <parameter=commit>"]
    tokenizer = train_tokenizer(corpus, vocab_size=4000 if gpu else 600)
    tokenizer.chat_template = CODER_TEMPLATE
    mask_check(tokenizer, convs[0], None)
    optimizer = "adamw_8bit" if gpu and have["bitsandbytes"] else "adamw_torch"
    if gpu and not have["bitsandbytes"]:
        row("optimizer", "skip", "bitsandbytes missing: adamw_torch instead of adamw_8bit")
    backends = ["trl"] + (["unsloth"] if have["unsloth"] else [])
    if not have["unsloth"]:
        row("unsloth runs", "skip", skipped.get("unsloth") or "unsloth does not import (see above)")
    size = "0.6B" if gpu else "tiny"
    dense = build_model(work / "dense", tokenizer, moe=False, gpu=gpu)
    runs = {}
    for backend in backends:
        runs[backend] = train(f"dense {size} {backend}", dense, work / "data", work / f"run-dense-{backend}", backend,
                              steps=20 if gpu else 3, batch=4 if gpu else 2, max_length=2048 if gpu else 1024,
                              optimizer=optimizer)
    if runs.get("trl"):
        mask_check(tokenizer, convs[0], runs["trl"]["out"] / "mask_preview.txt")
    compare(runs.get("trl", {}), runs.get("unsloth", {}), f"dense {size}")
    moe = build_model(work / "moe", tokenizer, moe=True, gpu=gpu)
    moe_runs = {}
    for backend in backends:
        moe_runs[backend] = train(f"moe 2-layer {backend}", moe, work / "data", work / f"run-moe-{backend}", backend,
                                  steps=10 if gpu else 2, batch=2, max_length=2048 if gpu else 1024,
                                  optimizer=optimizer)
    compare(moe_runs.get("trl", {}), moe_runs.get("unsloth", {}), "moe 2-layer")
    merge_check(runs.get("trl", {}), dense, work / "data", work / "merge")
    print_table()
    if not gpu:
        print("\nNo GPU here: the GPU-sized parts ran at tiny sizes on the CPU; "
              "run this on a GPU host for the figures.")
    return 1 if any(status == "FAIL" for _, status, _ in ROWS) else 0


if __name__ == "__main__":
    sys.exit(main())
