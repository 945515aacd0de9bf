"""Training throughput (tokens/s) of both backends, through the same entry module the worker runs.

CPU: the tiny random Qwen3 on short rows. With CUDA: also a ~0.5B random Qwen3 (Qwen3-0.6B shapes,
real vocabulary) at a real sequence length. Each run is a child process, as on the worker.

    .venv/bin/python bench/train_bench.py [--steps 30] [--backends trl,unsloth] [--seq 4096]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT.parent / "shared" / "data" / "harvest-public.jsonl"
SYSTEM = "Split the working tree below into conventional commits. Answer with JSON only."


def sft_rows(n: int, diff_chars: int) -> list[dict]:
    """SFT rows from the shared sample (diffs joined up to diff_chars), or synthetic ones without it."""
    diffs, subjects = [], []
    if SAMPLE.exists():
        with SAMPLE.open(encoding="utf-8") as fh:
            for line in fh:
                ex = json.loads(line)
                diffs.append(ex["diff"])
                subjects.append([c["subject"] for c in ex["original_commits"]])
                if len(diffs) >= 4 * n:
                    break
    if not diffs:
        diffs = [f"diff --git a/f{i}.py b/f{i}.py\n+x = {i}\n" * 40 for i in range(4 * n)]
        subjects = [[f"feat(core): change {i}"] for i in range(4 * n)]
    rows = []
    for i in range(n):
        diff = ""
        j = i
        while len(diff) < diff_chars:
            diff += diffs[j % len(diffs)]
            j += n
        answer = {"commits": [{"subject": s, "files": [], "body": ""} for s in subjects[i % len(subjects)]],
                  "gitignore": []}
        rows.append({"messages": [{"role": "system", "content": SYSTEM},
                                  {"role": "user", "content": "Diff:\n" + diff[:diff_chars]},
                                  {"role": "assistant", "content": json.dumps(answer)}]})
    return rows


def write_export(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def build_model(folder: Path, rows: list[dict], gpu_size: bool) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    from training.tiny import build_tiny_model, train_tokenizer

    texts = [m["content"][:4000] for r in rows[:50] for m in r["messages"]]
    tokenizer = train_tokenizer(texts, vocab_size=2000)
    if not gpu_size:
        return build_tiny_model(folder, tokenizer=tokenizer)
    config = Qwen3Config(vocab_size=151936, hidden_size=1024, num_hidden_layers=28, num_attention_heads=16,
                         num_key_value_heads=8, head_dim=128, intermediate_size=3072, max_position_embeddings=32768,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def run(backend: str, model: Path, data: Path, out: Path, steps: int, seq: int, batch: int) -> dict:
    cfg = {"base_model": str(model), "data_dir": str(data), "output_dir": str(out), "backend": backend,
           "max_steps": steps, "batch_size": batch, "grad_accum": 1, "max_length": seq, "eval_steps": 10**9,
           "optimizer": "adamw_8bit", "lora_r": 32, "lora_alpha": 64, "warmup_ratio": 0.0}
    out.mkdir(parents=True, exist_ok=True)
    (out / "cfg.json").write_text(json.dumps(cfg))
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "training.entry", "--config", str(out / "cfg.json")], cwd=ROOT,
                          capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        return {"backend": backend, "error": (proc.stdout + proc.stderr).strip().splitlines()[-1]}
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [m for m in metrics if m["event"] == "train" and m.get("tokens_per_s")]
    # Steady state: the second half of the steps (the first ones pay for kernel and allocator warm-up).
    first, last = train[len(train) // 2 - 1], train[-1]
    rate = (last["tokens_seen"] - first["tokens_seen"]) / max(last["elapsed_s"] - first["elapsed_s"], 1e-9)
    mem = max((m.get("gpu_mem_gb") or 0 for m in train), default=0)
    return {"backend": backend, "tokens_per_s": round(rate, 1), "steps": len(train),
            "tokens": train[-1]["tokens_seen"] if train else 0, "wall_s": round(wall, 1), "gpu_mem_gb": mem}


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--backends", default="trl,unsloth")
    parser.add_argument("--seq", type=int, default=4096, help="sequence length of the GPU benchmark")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b != "unsloth" or importlib.util.find_spec("unsloth")]
    skipped = sorted(set(args.backends.split(",")) - set(backends))
    cases = [("tiny Qwen3, CPU" if not torch.cuda.is_available() else "tiny Qwen3", False, 512, 4)]
    if torch.cuda.is_available():
        cases.append((f"~0.5B random Qwen3, {torch.cuda.get_device_name(0)}", True, args.seq, 2))
    print(f"torch {torch.__version__}, {'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU'}"
          + (f"; skipped (not installed): {', '.join(skipped)}" if skipped else ""))
    with tempfile.TemporaryDirectory() as tmp:
        for title, big, seq, batch in cases:
            rows = sft_rows(64, diff_chars=seq * 3 if big else 900)
            data = write_export(Path(tmp) / f"data-{big}", rows)
            model = build_model(Path(tmp) / f"model-{big}", rows, big)
            print(f"\n{title}: max_length {seq}, batch {batch}, {args.steps} steps, LoRA r32 all linear")
            for backend in backends:
                r = run(backend, model, data, Path(tmp) / f"out-{big}-{backend}", args.steps, seq, batch)
                if "error" in r:
                    print(f"  {backend:8s} failed: {r['error']}")
                else:
                    mem = f", peak GPU {r['gpu_mem_gb']} GB" if r["gpu_mem_gb"] else ""
                    print(f"  {backend:8s} {r['tokens_per_s']:>10,.1f} tokens/s (second half of the steps; "
                          f"{r['tokens']:,} tokens in {r['steps']} steps, {r['wall_s']} s with start-up{mem})")


if __name__ == "__main__":
    main()
