"""The training entry module: one config dataclass and ``main()``.

Run as ``python -m training.entry --config FILE`` (a JSON file of
``TrainConfig`` fields). The Celery worker starts it as a child process so a
crash or an out-of-memory error cannot take the worker down; each metric is
printed as one ``GSCTUNE_METRIC {json}`` line on stdout (and appended to
``metrics.jsonl``) for the parent to stream into the database.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from training.backends import LINEAR_TARGETS, LOADERS, check_base_model
from training.estimate import parameter_counts
from training.rules import raise_problems, require_trainable_examples

METRIC_PREFIX = "GSCTUNE_METRIC "
ERROR_PREFIX = "GSCTUNE_ERROR "


@dataclass
class TrainConfig:
    """Everything one run needs; defaults are the seed plan's."""

    base_model: str
    data_dir: str
    output_dir: str
    backend: str = "unsloth"  # "unsloth" or "trl"
    precision: str = "bf16"  # "bf16" (LoRA) or "4bit" (QLoRA)
    lora_r: int = 32
    lora_alpha: int = 64
    lora_dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(LINEAR_TARGETS))
    train_experts: bool = True
    learning_rate: float = 1.5e-4
    batch_size: int = 4
    grad_accum: int = 4
    epochs: float = 3.0
    max_steps: int = -1
    warmup_ratio: float = 0.1
    scheduler: str = "cosine"
    max_length: int = 8192
    packing: bool = False
    assistant_only_loss: bool = True
    optimizer: str = "adamw_8bit"
    seed: int = 3407
    gradient_checkpointing: bool = True
    eval_steps: float = 0.1  # a fraction of the total steps, or a step count
    logging_steps: int = 1

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown training option(s): {', '.join(unknown)}")
        return cls(**data)

    def validate(self) -> None:
        if self.backend not in LOADERS:
            raise ValueError(f"backend must be one of {sorted(LOADERS)}, not {self.backend!r}")
        if self.precision not in ("bf16", "4bit"):
            raise ValueError(f"precision must be 'bf16' or '4bit', not {self.precision!r}")
        train = Path(self.data_dir) / "train.jsonl"
        if not train.exists():
            raise FileNotFoundError(f"No train.jsonl in {self.data_dir}: point data_dir at an SFT export folder")
        raise_problems(dataclasses.asdict(self))  # training.rules: the launch form's and command's rules too


def emit(record: dict, metrics_file=None) -> None:
    """Send one metric record to the parent (stdout) and to metrics.jsonl."""
    line = json.dumps(record, sort_keys=True)
    print(METRIC_PREFIX + line, flush=True)
    if metrics_file is not None:
        metrics_file.write(line + "\n")
        metrics_file.flush()


def make_callback(metrics_file):
    """A TrainerCallback that turns the Trainer's logs into metric lines with tokens/s and GPU memory."""
    import torch
    from transformers import TrainerCallback

    class MetricsCallback(TrainerCallback):
        def __init__(self):
            self.t0 = self.t_last = time.monotonic()
            self.tokens_last = 0

        def on_train_begin(self, args, state, control, **kwargs):
            self.t0 = self.t_last = time.monotonic()
            emit({"event": "begin", "max_steps": state.max_steps, "epochs": args.num_train_epochs}, metrics_file)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = {k: v for k, v in (logs or {}).items() if isinstance(v, (int, float)) and math.isfinite(v)}
            now = time.monotonic()
            rec = {"step": state.global_step, "max_steps": state.max_steps, "epoch": state.epoch,
                   "elapsed_s": round(now - self.t0, 3)}
            if "eval_loss" in logs:
                rec.update(event="eval", eval_loss=logs["eval_loss"])
            elif "loss" in logs:
                rec.update(event="train", **{k: logs[k] for k in ("loss", "learning_rate", "grad_norm") if k in logs})
                tokens = state.num_input_tokens_seen or 0
                if now > self.t_last and tokens > self.tokens_last:
                    rec["tokens_per_s"] = round((tokens - self.tokens_last) / (now - self.t_last), 1)
                rec["tokens_seen"] = tokens
                self.t_last, self.tokens_last = now, tokens
            else:
                rec.update(event="summary", **logs)
            if torch.cuda.is_available():
                rec["gpu_mem_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
            emit(rec, metrics_file)

    return MetricsCallback()


def resolve_optimizer(name: str, cuda: bool | None = None) -> tuple[str, str | None]:
    """8-bit optimizers need bitsandbytes on CUDA.

    On a CPU the run falls back to AdamW and says so; on CUDA a missing bitsandbytes is an error, since AdamW's
    fp32 states would cost about 8 GB more than planned on the 30B model's LoRA.
    """
    if "8bit" not in name:
        return name, None
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    if not cuda:
        return "adamw_torch", f"{name} needs a CUDA GPU: using adamw_torch on this CPU host"
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        raise RuntimeError(f"optimizer {name} needs bitsandbytes, which is not installed on this GPU host: "
                           "run `make install-gpu`, or choose optimizer adamw_torch (about 8 GB more).")
    return name, None


def write_mask_preview(dataset, tokenizer, path: Path) -> None:
    """The trained text of the first example as the trainer holds it (labels != -100), to check the mask."""
    from training.assistant_mask import decode_trained

    row = dataset[0]
    path.write_text(decode_trained(tokenizer, row["input_ids"], row["labels"]), encoding="utf-8")


def train(cfg: TrainConfig) -> dict:
    """Load, train, save the adapter; return the final summary."""
    cfg.validate()
    check_base_model(cfg.base_model, cfg.backend, cfg.precision)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics_file = open(out / "metrics.jsonl", "a", encoding="utf-8")

    import torch

    from training.compat import check_kernel, ensure_cpu_fused_lm_head

    cuda = torch.cuda.is_available()
    # Checked before the model loads, so a GPU host missing a package fails in seconds, not after minutes.
    check_kernel(cuda)
    optim, note = resolve_optimizer(cfg.optimizer, cuda)

    model, tokenizer, notes = LOADERS[cfg.backend](cfg)  # unsloth must be imported before trl
    require_trainable_examples(cfg, tokenizer)  # training.rules: in words, not TRL's num_samples=0

    from trl import SFTConfig, SFTTrainer

    from training.assistant_mask import tokenized_dataset

    ensure_cpu_fused_lm_head(cuda)
    data = Path(cfg.data_dir)
    # Tokenized here with the model's own template and gsctune's assistant mask (TRL's needs
    # {% generation %} markers that Qwen3-Coder's template lacks).
    ds = {"train": tokenized_dataset(tokenizer, data / "train.jsonl", cfg.assistant_only_loss)}
    val = data / "val.jsonl"
    if val.exists() and val.stat().st_size > 0:
        ds["validation"] = tokenized_dataset(tokenizer, val, cfg.assistant_only_loss)
    if note:
        notes.append(note)
    bf16 = cuda and torch.cuda.is_bf16_supported()
    has_eval = "validation" in ds
    args = SFTConfig(
        output_dir=str(out / "checkpoints"),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_ratio,
        lr_scheduler_type=cfg.scheduler,
        optim=optim,
        seed=cfg.seed,
        bf16=bf16,
        use_cpu=not cuda,
        max_length=cfg.max_length,
        packing=cfg.packing,
        assistant_only_loss=False,  # the dataset carries its own assistant_masks
        gradient_checkpointing=cfg.gradient_checkpointing and cfg.backend == "trl",
        logging_steps=cfg.logging_steps,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=cfg.eval_steps if has_eval else None,
        save_strategy="no",
        report_to="none",
        include_num_input_tokens_seen="non_padding",
        dataset_num_proc=None,
        disable_tqdm=True,
    )
    resolved = dataclasses.asdict(cfg) | {
        "resolved_optimizer": optim,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "bf16": bf16,
        "notes": notes,
        "train_examples": len(ds["train"]),
        "val_examples": len(ds["validation"]) if has_eval else 0,
    }
    (out / "resolved_config.json").write_text(json.dumps(resolved, indent=2))
    for n in notes:
        print(f"note: {n}", flush=True)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=ds["train"],
        eval_dataset=ds["validation"] if has_eval else None,
        processing_class=tokenizer,
        callbacks=[make_callback(metrics_file)],
    )
    write_mask_preview(trainer.train_dataset, tokenizer, out / "mask_preview.txt")
    emit({"event": "params", **parameter_counts(model)}, metrics_file)  # counted as the estimate counts
    result = trainer.train()
    adapter_dir = out / "adapter"
    model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    summary = {"event": "done", "adapter_dir": str(adapter_dir), "global_step": result.global_step,
               "train_loss": result.training_loss}
    emit(summary, metrics_file)
    metrics_file.close()
    return summary


def pin_device(environ=os.environ) -> str:
    """One visible GPU per training process: SFTTrainer refuses several without a launcher.

    The worker sets CUDA_VISIBLE_DEVICES for each child; run by hand, the entry keeps what it was given
    (its first device when several are listed), else the first of GSCTUNE_TRAIN_GPUS, else device 0.
    Must run before torch initialises CUDA.
    """
    given = environ.get("CUDA_VISIBLE_DEVICES")
    if given is None:
        given = environ.get("GSCTUNE_TRAIN_GPUS") or "0"
    device = given.split(",")[0].strip()  # "" (no GPU at all) stays as it is
    environ["CUDA_VISIBLE_DEVICES"] = device
    return device


def main(argv: list[str] | None = None) -> int:
    pin_device()
    parser = argparse.ArgumentParser(description="Train one LoRA adapter from an SFT export folder.")
    parser.add_argument("--config", required=True, help="JSON file of TrainConfig fields")
    ns = parser.parse_args(argv)
    try:
        cfg = TrainConfig.from_dict(json.loads(Path(ns.config).read_text()))
        train(cfg)
    except Exception as exc:  # the parent stores this line as the run's error
        print(ERROR_PREFIX + json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
