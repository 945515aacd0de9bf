"""Test data for training: tiny models and SFT export folders made by the real export from the generated sample."""

from __future__ import annotations

from pathlib import Path

from tests import sample_data


def sample_examples(n: int = 50) -> list[dict]:
    """Every 3rd example of the generated sample (interleaved by repository): all repositories, few rows."""
    return sample_data.sample_examples()[::3][:n]


def tokenizer_corpus(examples: list[dict]) -> list[str]:
    texts = [ex["diff"][:800] for ex in examples]
    texts += [c["subject"] for ex in examples for c in ex["original_commits"]]
    texts.append('{"commits":[{"subject":"feat(core): change","files":["a.py"],"body":"","issues":[]}],'
                 '"gitignore":[]}')
    return texts


def make_export(out_dir: Path, examples: list[dict], tokenizer_dir: Path, max_total: int = 600) -> Path:
    """train.jsonl / val.jsonl written by labeling.export, labels being the original human commits."""
    from labeling.export import snapshot as E
    from tests.test_export import make_record

    records = [make_record(ex, i + 1) for i, ex in enumerate(examples)]
    opts = E.ExportOptions(val_fraction=0.2, prompt="short", tokenizer=str(tokenizer_dir), max_diff_tokens=80,
                           max_total=max_total)
    out_dir.mkdir(parents=True, exist_ok=True)
    E.export(records, opts, str(out_dir))
    return out_dir


def tiny_setup(root: Path) -> dict[str, Path]:
    """A tiny dense and a tiny MoE model sharing one tokenizer, and an export tokenized with it."""
    from training.tiny import build_tiny_model, train_tokenizer

    examples = sample_examples()
    tokenizer = train_tokenizer(tokenizer_corpus(examples), vocab_size=1000)
    dense = build_tiny_model(root / "tiny-dense", tokenizer=tokenizer)
    moe = build_tiny_model(root / "tiny-moe", moe=True, tokenizer=tokenizer)
    export = make_export(root / "export", examples, dense)
    return {"dense": dense, "moe": moe, "export": export}


def quick_options(**extra) -> dict:
    """TrainConfig fields for a few-second CPU run."""
    opts = {"max_steps": 3, "batch_size": 2, "grad_accum": 1, "max_length": 600, "learning_rate": 5e-3,
            "eval_steps": 2, "optimizer": "adamw_torch", "lora_r": 8, "lora_alpha": 16}
    opts.update(extra)
    return opts


_CACHE: dict[str, dict[str, Path]] = {}


def shared_tiny_setup(base: Path) -> dict[str, Path]:
    """tiny_setup built once per test process (several test modules use it)."""
    key = str(base)
    if key not in _CACHE:
        _CACHE[key] = tiny_setup(base / "training-tiny")
    return _CACHE[key]


def llama_cpp_dir() -> Path | None:
    """The llama.cpp converter folder (LLAMA_CPP_DIR, else var/llama.cpp from scripts/get_llama_cpp.sh)."""
    import os

    for cand in (os.environ.get("LLAMA_CPP_DIR"), Path(__file__).resolve().parents[1] / "var" / "llama.cpp"):
        if cand and (Path(cand) / "convert_hf_to_gguf.py").exists():
            return Path(cand)
    return None


def unsloth_missing() -> str | None:
    """Why the unsloth backend cannot be tested here, or None."""
    import importlib.util

    if importlib.util.find_spec("unsloth") is None:
        return "unsloth is not installed (scripts/install_unsloth_cpu.sh installs its CPU fallback)"
    return None
