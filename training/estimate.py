"""Memory and time estimate for a LoRA run, from the base model's config alone.

Counts parameters from the architecture (dense Qwen3/Qwen2 and Qwen3-MoE
shapes), then adds LoRA weights, their gradients and optimizer state, the
activations kept under gradient checkpointing, the working set of one layer
and of the chunked LM head, and a fixed CUDA overhead. The numbers are meant to
answer "does it fit, and roughly how long" before anything is launched.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

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
    def from_config(cls, cfg: dict) -> "Shapes":
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
    targets = set(target_modules or ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    moe = s.experts > 0
    attn = s.attention()
    embed = s.vocab * s.hidden * (1 if s.tied else 2)
    attn_params = _count(attn) * s.layers
    if moe:
        expert_params = _count(s.mlp(s.moe_intermediate)) * s.experts * s.layers
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
            warnings.append("trl backend: bitsandbytes does not quantize fused expert weights in transformers 5, "
                            "so they stay in bf16 and use far more memory than shown; use the unsloth backend.")

    if precision == "4bit":
        quantized = attn_params + (mlp_params - (s.hidden * s.experts * s.layers if moe else 0))
        weights = quantized * NF4_BYTES + (total - quantized) * 2
    else:
        weights = total * 2
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
    total_gb = (weights + lora_bytes + activations) / GB + CUDA_OVERHEAD_GB
    fits = total_gb <= size
    if not fits:
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
        activations_gb=round(activations / GB, 2), overhead_gb=CUDA_OVERHEAD_GB, total_gb=round(total_gb, 1),
        gpu=gpu, gpu_gb=size, fits=fits, tokens=tokens,
        hours_per_epoch=round(hours, 3) if hours is not None else None, warnings=warnings,
    )


def export_tokens(data_dir: str | Path, tokenizer_dir: str | None = None) -> tuple[int, int, int]:
    """(total tokens, longest example, examples) of train.jsonl: exact with a local tokenizer, else ~3.5 chars/token."""
    path = Path(data_dir) / "train.jsonl"
    tokenizer = None
    if tokenizer_dir and (Path(tokenizer_dir) / "tokenizer_config.json").exists():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    total = longest = rows = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            messages = json.loads(line)["messages"]
            if tokenizer is not None and tokenizer.chat_template:
                n = len(tokenizer.apply_chat_template(messages, return_dict=True)["input_ids"])
            else:
                n = int(sum(len(m.get("content", "")) for m in messages) / 3.5) + 5 * len(messages)
            total, longest, rows = total + n, max(longest, n), rows + 1
    return total, longest, rows
