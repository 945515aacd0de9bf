"""Memory and time estimate for a LoRA run, from the base model's config alone.

Counts parameters from the architecture (dense Qwen3/Qwen2 and Qwen3-MoE
shapes), then adds LoRA weights, their gradients and optimizer state, the
activations kept under gradient checkpointing, the working set of one layer
and of the chunked LM head, and a fixed CUDA overhead. The numbers are meant to
answer "does it fit, and roughly how long" before anything is launched.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from training.backends import LINEAR_TARGETS

GB = 1e9
GPUS = {"H100 80GB": 80.0, "H200 141GB": 141.0, "A100 80GB": 80.0}
# Dense bf16 peak TFLOP/s and the fraction of it LoRA training usually reaches (MoE runs far lower).
PEAK_TFLOPS = {"H100 80GB": 989.0, "H200 141GB": 989.0, "A100 80GB": 312.0}
MFU_DENSE, MFU_MOE = 0.30, 0.08
NF4_BYTES = 0.5 * 4.127 / 4  # 4-bit weights plus double-quantized block scales
CUDA_OVERHEAD_GB = 1.5
LM_HEAD_TOKEN_TILE, LM_HEAD_VOCAB_TILE = 4096, 32768  # TRL's chunked log-prob head
OPTIMIZER_BYTES = {"adamw_8bit": 2, "paged_adamw_8bit": 2, "adamw_torch": 8, "adamw_torch_fused": 8, "sgd": 0}

# Published configs, so the estimate works before a model is downloaded.
PRESETS = {
    "Qwen/Qwen3-Coder-30B-A3B-Instruct": {
        "model_type": "qwen3_moe", "vocab_size": 151936, "hidden_size": 2048, "num_hidden_layers": 48,
        "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128, "intermediate_size": 6144,
        "moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8, "tie_word_embeddings": False,
    },
    "Qwen/Qwen3-8B": {
        "model_type": "qwen3", "vocab_size": 151936, "hidden_size": 4096, "num_hidden_layers": 36,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 12288,
        "tie_word_embeddings": False,
    },
    "Qwen/Qwen2.5-Coder-7B-Instruct": {
        "model_type": "qwen2", "vocab_size": 152064, "hidden_size": 3584, "num_hidden_layers": 28,
        "num_attention_heads": 28, "num_key_value_heads": 4, "intermediate_size": 18944,
        "tie_word_embeddings": False,
    },
}


class ConfigNotFound(LookupError):
    """No config.json for the base model here; the message says how to get one."""


def load_model_config(base_model: str) -> dict:
    """The model's config.json: a local folder, a preset, or the Hugging Face cache (never the network)."""
    path = Path(base_model).expanduser()
    if (path / "config.json").exists():
        return json.loads((path / "config.json").read_text())
    if base_model in PRESETS:
        return dict(PRESETS[base_model])
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(base_model, "config.json")
    except Exception:  # a malformed id is just "not cached"
        cached = None
    if isinstance(cached, str) and os.path.exists(cached):
        return json.loads(Path(cached).read_text())
    raise ConfigNotFound(
        f"No config.json for {base_model}: give a local model folder, or run "
        f"`huggingface-cli download {base_model} config.json` on this host."
    )


@dataclass
class Shapes:
    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    experts: int = 0
    active_experts: int = 0
    moe_intermediate: int = 0
    tied: bool = False

    @classmethod
    def from_config(cls, cfg: dict) -> Shapes:
        cfg = cfg.get("text_config", cfg)
        heads = cfg["num_attention_heads"]
        experts = cfg.get("num_experts") or cfg.get("num_local_experts") or 0
        return cls(
            vocab=cfg["vocab_size"], hidden=cfg["hidden_size"], layers=cfg["num_hidden_layers"], heads=heads,
            kv_heads=cfg.get("num_key_value_heads") or heads,
            head_dim=cfg.get("head_dim") or cfg["hidden_size"] // heads,
            intermediate=cfg.get("intermediate_size", 0), experts=experts,
            active_experts=cfg.get("num_experts_per_tok", 0) if experts else 0,
            moe_intermediate=cfg.get("moe_intermediate_size", 0) if experts else 0,
            tied=bool(cfg.get("tie_word_embeddings", False)),
        )

    # (in, out) of each projection of one layer
    def attention(self) -> dict[str, tuple[int, int]]:
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        return {"q_proj": (self.hidden, q), "k_proj": (self.hidden, kv), "v_proj": (self.hidden, kv),
                "o_proj": (q, self.hidden)}

    def mlp(self, width: int) -> dict[str, tuple[int, int]]:
        return {"gate_proj": (self.hidden, width), "up_proj": (self.hidden, width), "down_proj": (width, self.hidden)}

    def expert_params(self) -> int:
        """Weights of all experts of all layers (0 for a dense model)."""
        return _count(self.mlp(self.moe_intermediate)) * self.experts * self.layers

    def experts_fused(self) -> dict[str, tuple[int, int]]:
        """transformers 5 fuses gate and up projections of each expert; LoRA wraps the fused tensor."""
        w = self.moe_intermediate
        return {"gate_up_proj": (self.hidden, 2 * w), "down_proj": (w, self.hidden)}


@dataclass
class Estimate:
    total_params: int
    active_params: int
    trainable_params: int
    weights_gb: float
    lora_gb: float
    activations_gb: float
    expert_delta_gb: float
    overhead_gb: float
    total_gb: float
    gpu: str
    gpu_gb: float
    fits: bool
    tokens: int | None = None
    hours_per_epoch: float | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _count(proj: dict[str, tuple[int, int]]) -> int:
    return sum(i * o for i, o in proj.values())


def _lora(proj: dict[str, tuple[int, int]], r: int, targets: set[str], copies: int = 1) -> int:
    return sum(r * (i + o) for name, (i, o) in proj.items() if name in targets) * copies


def estimate(
    config: dict,
    precision: str = "bf16",
    lora_r: int = 32,
    target_modules: list[str] | None = None,
    train_experts: bool = True,
    batch_size: int = 1,
    seq_len: int = 2048,
    optimizer: str = "adamw_8bit",
    backend: str = "trl",
    gradient_checkpointing: bool = True,
    gpu: str = "H100 80GB",
    gpu_gb: float | None = None,
    tokens: int | None = None,
) -> Estimate:
    """Estimate peak GPU memory (GB) and hours per epoch for one LoRA configuration."""
    s = Shapes.from_config(config)
    targets = set(target_modules or LINEAR_TARGETS)
    moe = s.experts > 0
    attn = s.attention()
    embed = s.vocab * s.hidden * (1 if s.tied else 2)
    attn_params = _count(attn) * s.layers
    if moe:
        expert_params = s.expert_params()
        router = s.hidden * s.experts * s.layers
        mlp_params, active_mlp = expert_params + router, expert_params * s.active_experts // s.experts + router
    else:
        mlp_params = active_mlp = _count(s.mlp(s.intermediate)) * s.layers
    norms = s.layers * (2 * s.hidden + 2 * s.head_dim) + s.hidden
    total = embed + attn_params + mlp_params + norms
    active = embed + attn_params + active_mlp + norms
    warnings: list[str] = []

    # 4-bit: PEFT cannot put LoRA on quantized fused experts, so QLoRA on MoE trains attention only.
    experts_lora = moe and train_experts and precision != "4bit"
    trainable = _lora(attn, lora_r, targets, s.layers)
    if moe and experts_lora:
        fused_targets = targets | ({"gate_up_proj"} if targets & {"gate_proj", "up_proj"} else set())
        trainable += _lora(s.experts_fused(), lora_r, fused_targets, s.layers * s.experts)
    elif not moe:
        trainable += _lora(s.mlp(s.intermediate), lora_r, targets, s.layers)
    if moe and precision == "4bit":
        warnings.append("4-bit on an MoE model: LoRA trains attention only (experts are quantized); "
                        "bf16 LoRA is the advised setup for MoE.")
        if backend == "trl":
            warnings.append("Refused: TRL + 4-bit on an MoE model keeps the fused experts unquantized and PEFT "
                            f"casts them to fp32 ({s.expert_params() * 4 / GB:.0f} GB for the experts); "
                            "use the unsloth backend for 4-bit, or bf16 LoRA.")

    if precision == "4bit" and moe and backend == "trl":
        # bitsandbytes quantizes Linear layers only; PEFT's k-bit preparation casts the rest (the fused
        # 3-D experts, embeddings, norms) to fp32.
        quantized = attn_params + s.hidden * s.experts * s.layers
        weights = quantized * NF4_BYTES + (total - quantized) * 4
    elif precision == "4bit":
        quantized = attn_params + (mlp_params - (s.hidden * s.experts * s.layers if moe else 0))
        weights = quantized * NF4_BYTES + (total - quantized) * 2
    else:
        weights = total * 2
    # TRL path, LoRA on fused experts: each forward rebuilds W + B@A for one layer's expert stack (bf16), and
    # its backward needs the gradient of that rebuilt weight as well; with checkpointing one layer at a time.
    expert_delta = 0
    if experts_lora and backend == "trl":
        stack = _count(s.experts_fused()) * s.experts * 2
        expert_delta = 2 * stack if gradient_checkpointing else (s.layers + 1) * stack
    adapter_bytes = 2 if backend == "unsloth" else 4  # PEFT keeps adapters in fp32 by default
    lora_bytes = trainable * (2 * adapter_bytes + OPTIMIZER_BYTES.get(optimizer, 8))

    tok = batch_size * seq_len
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    width = s.moe_intermediate * s.active_experts if moe else s.intermediate
    layer_working = tok * (4 * s.hidden + 2 * q + 2 * kv + 3 * width) * 2  # one layer's saved tensors, bf16
    if gradient_checkpointing:
        acts = tok * s.hidden * 2 * s.layers + 2 * layer_working
    else:
        acts = layer_working * s.layers
    lm_head = min(tok, LM_HEAD_TOKEN_TILE) * min(s.vocab, LM_HEAD_VOCAB_TILE) * 4 * 2 + tok * s.hidden * 4
    activations = acts + lm_head

    size = gpu_gb or GPUS.get(gpu, 80.0)
    total_gb = (weights + lora_bytes + activations + expert_delta) / GB + CUDA_OVERHEAD_GB
    fits = total_gb <= size and not (moe and precision == "4bit" and backend == "trl")
    if total_gb > size:
        warnings.append(f"Needs about {total_gb:.0f} GB, more than the {size:.0f} GB of {gpu}: lower batch size or "
                        f"max length, or use 4-bit.")
    hours = None
    if tokens:
        flops = 6 * active * tokens  # forward, backward and the recompute of checkpointing
        peak = PEAK_TFLOPS.get(gpu, 989.0) * 1e12 * (MFU_MOE if moe else MFU_DENSE)
        hours = flops / peak / 3600
    return Estimate(
        total_params=total, active_params=active, trainable_params=trainable,
        weights_gb=round(weights / GB, 2), lora_gb=round(lora_bytes / GB, 2),
        activations_gb=round(activations / GB, 2), expert_delta_gb=round(expert_delta / GB, 2), overhead_gb=CUDA_OVERHEAD_GB, total_gb=round(total_gb, 1),
        gpu=gpu, gpu_gb=size, fits=fits, tokens=tokens,
        hours_per_epoch=round(hours, 3) if hours is not None else None, warnings=warnings,
    )


CHARS_PER_TOKEN = 3.5  # without a tokenizer: a rough count for code and English
TOKENS_PER_MESSAGE = 5  # role markers and newlines of a ChatML-like template


@dataclass
class Lengths:
    """Per train example: tokens before its first answer token, and of the whole conversation."""

    prompt: list[int]
    full: list[int]
    method: str  # how they were counted, for the page
    exact: bool


def _split(row: dict) -> tuple[list[dict], list[dict], list | None]:
    from training.assistant_mask import normalize_messages

    messages = normalize_messages(row["messages"])  # tool-call arguments as dicts, as training renders them
    first = next((i for i, m in enumerate(messages) if m.get("role") == "assistant"), len(messages))
    tools = row.get("tools")
    return messages[:first], messages, json.loads(tools) if isinstance(tools, str) else tools


def _chars(messages: list[dict]) -> int:
    return sum(len(m.get("content") or "") + len(json.dumps(m["tool_calls"])) if m.get("tool_calls")
               else len(m.get("content") or "") for m in messages)


def conversation_lengths_with(path: str | Path, tokenizer=None) -> Lengths:
    """Count every train example of a JSONL file with ``tokenizer``'s chat template, or by the character rule."""
    prompt, full = [], []
    use = tokenizer is not None and getattr(tokenizer, "chat_template", None)
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            head, messages, tools = _split(json.loads(line))
            if use:
                kw = {"tools": tools} if tools else {}
                full.append(len(tokenizer.apply_chat_template(messages, return_dict=True, **kw)["input_ids"]))
                prompt.append(len(tokenizer.apply_chat_template(head, add_generation_prompt=True, return_dict=True,
                                                                **kw)["input_ids"]) if head else 0)
            else:
                full.append(int(_chars(messages) / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(messages))
                prompt.append(int(_chars(head) / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * (len(head) + 1))
    if use:
        name = getattr(tokenizer, "name_or_path", "") or "the model's"
        return Lengths(prompt, full, f"counted with the tokenizer {Path(name).name or name}", True)
    return Lengths(prompt, full, f"estimated at ~{CHARS_PER_TOKEN} characters per token (no tokenizer here)",
                   False)


def load_tokenizer(candidates: list[str | None]):
    """The first tokenizer found locally among ``candidates`` (folders or cached hub ids), never the network."""
    for name in candidates:
        if not name:
            continue
        path = Path(name).expanduser()
        if path.exists() and not (path / "tokenizer_config.json").exists():
            continue
        try:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(path) if path.exists() else name, local_files_only=True)
        except (OSError, ValueError, ImportError):
            continue
        if getattr(tokenizer, "chat_template", None):
            return tokenizer
    return None


@functools.lru_cache(maxsize=16)
def _cached_lengths(path: str, mtime_ns: int, size: int, candidates: tuple[str, ...]) -> Lengths:
    return conversation_lengths_with(path, load_tokenizer(list(candidates)))


def conversation_lengths(data_dir: str | Path, candidates: list[str | None]) -> Lengths:
    """``conversation_lengths_with`` for an export folder, kept while train.jsonl is unchanged (the form re-asks
    on every change)."""
    path = Path(data_dir) / "train.jsonl"
    st = path.stat()
    return _cached_lengths(str(path), st.st_mtime_ns, st.st_size, tuple(c for c in candidates if c))


@dataclass
class AnswerLoss:
    """What ``max_length`` cuts away: TRL truncates the end of each conversation, where the answer is."""

    total: int
    lost_all: int  # the prompt alone reaches max length: nothing left to learn from
    lost_part: int  # the answer's end is cut
    max_length: int
    shortest_prompt: int
    method: str
    exact: bool

    def message(self) -> str:
        if not self.lost_all and not self.lost_part:
            return f"All {self.total:,} train examples fit in max length {self.max_length}"
        parts = []
        if self.lost_all:
            parts.append(f"{self.lost_all:,} of {self.total:,} train examples lose their answer at max length "
                         f"{self.max_length}")
        if self.lost_part:
            parts.append(f"{self.lost_part:,} {'more' if self.lost_all else f'of {self.total:,} train examples'} "
                         f"lose the end of their answer{'' if self.lost_all else f' at max length {self.max_length}'}")
        return "; ".join(parts)

    def as_dict(self) -> dict:
        return asdict(self) | {"message": self.message()}


def answer_loss(lengths: Lengths, max_length: int) -> AnswerLoss:
    lost_all = sum(p >= max_length for p in lengths.prompt)
    lost_part = sum(p < max_length < f for p, f in zip(lengths.prompt, lengths.full))
    return AnswerLoss(total=len(lengths.full), lost_all=lost_all, lost_part=lost_part, max_length=max_length,
                      shortest_prompt=min(lengths.prompt, default=0), method=lengths.method, exact=lengths.exact)


def tokenizer_candidates(run) -> list[str]:
    """Where the run's tokenizer may be found here: the base model (folder or cache), then the export's tokenizer."""
    from training.rules import loaded_model_id

    cfg = {"base_model": run.base_model, "backend": run.backend, "precision": run.precision}
    export = getattr(run, "export", None) if getattr(run, "export_id", None) else None
    export_tok = (getattr(export, "options", None) or {}).get("tokenizer") if export is not None else None
    return list(dict.fromkeys(c for c in (run.base_model, loaded_model_id(cfg), export_tok) if c))


def run_estimate(run) -> dict:
    """The memory/time estimate for a run's settings (any object with TrainingRun's fields), or {"error": ...}.

    The sequence length is the longest example (capped at max_length): the batch holding it sets the peak.
    """
    from training.rules import model_config

    try:
        config = load_model_config(run.base_model)
    except ConfigNotFound as exc:  # the backend's own copy (Unsloth's repository) may be the one cached
        config = model_config({"base_model": run.base_model, "backend": run.backend, "precision": run.precision})
        if config is None:
            return {"error": str(exc)}
    tokens = rows = loss = None
    seq = run.max_length
    if run.data_dir and (Path(run.data_dir) / "train.jsonl").exists():
        lengths = conversation_lengths(run.data_dir, tokenizer_candidates(run))
        rows = len(lengths.full)
        tokens = sum(min(n, run.max_length) for n in lengths.full)
        seq = max(1, min(run.max_length, max(lengths.full, default=1)))
        loss = answer_loss(lengths, run.max_length)
    e = estimate(
        config, precision=run.precision, lora_r=run.lora_r, target_modules=list(run.target_modules),
        train_experts=run.train_experts, batch_size=run.batch_size, seq_len=seq, optimizer=run.optimizer,
        backend=run.backend, gpu=run.gpu, gpu_gb=run.gpu_memory_gb, tokens=tokens,
    )
    data = e.as_dict() | {"seq_len": seq, "examples": rows}
    if loss is not None:
        data["answer_loss"] = loss.as_dict()
    if e.hours_per_epoch is not None:
        epochs = run.epochs
        if run.max_steps > 0 and rows:
            epochs = run.max_steps * run.batch_size * run.grad_accum / rows
        data["hours_total"] = round(e.hours_per_epoch * epochs, 3)
        data["cost_total"] = round(float(run.gpu_price_per_hour) * data["hours_total"], 2)
    return data


def parameter_counts(model) -> dict[str, int]:
    """What the estimate counts, measured on the loaded PEFT model: base-model weights (LoRA excluded, 4-bit
    weights counted unpacked) and trainable LoRA parameters."""
    trainable = total = 0
    for name, p in model.named_parameters():
        if p.requires_grad:
            trainable += p.numel()
        if "lora_" in name:
            continue
        # bitsandbytes packs two 4-bit weights per uint8 element
        total += p.numel() * (2 if type(p).__name__ == "Params4bit" else 1)
    return {"trainable_params": trainable, "total_params": total}
