"""Model loading, the only part that differs between the ``trl`` and ``unsloth`` backends.

Each loader returns ``(peft_model, tokenizer, notes)``; everything after it
(dataset, SFTTrainer, metrics, saving) is shared in ``training.entry``.
"""

from __future__ import annotations

from pathlib import Path

LINEAR_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class BaseModelError(RuntimeError):
    """The base model cannot be found or loaded; the message says why and what to do."""


def check_base_model(base_model: str, backend: str = "trl", precision: str = "bf16") -> None:
    """Fail early, in plain words, on a base model that is neither a local folder nor a cached hub id.

    Offline, the cache must hold what the backend will load (Unsloth swaps in its own repository).
    """
    looks_local = base_model.startswith(("/", ".", "~")) or base_model.count("/") > 1
    path = Path(base_model).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise BaseModelError(f"Base model folder {base_model} has no config.json: is it a Hugging Face model folder?")
        return
    if looks_local:
        raise BaseModelError(f"Base model folder not found: {base_model}. Give an existing folder or a Hugging Face id.")
    from training.rules import offline_model_problem

    problem = offline_model_problem({"base_model": base_model, "backend": backend, "precision": precision})
    if problem:
        raise BaseModelError(problem)


def expert_parameters(model) -> list[str]:
    """Suffixes of the fused 3-D MoE expert weights (transformers 5), for PEFT ``target_parameters``."""
    names = set()
    for name, param in model.named_parameters():
        if param.ndim == 3 and ".experts." in name:
            names.add(".".join(name.split(".")[-3:]))  # e.g. mlp.experts.gate_up_proj
    return sorted(names)


def linear_targets(model, wanted: list[str]) -> list[str]:
    """The wanted projection names that exist as Linear layers in this model (MoE experts are not Linear)."""
    import torch.nn as nn

    present = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, nn.Linear)}
    return [t for t in wanted if t in present]


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def load_trl(cfg):
    """transformers + PEFT (+ bitsandbytes 4-bit on CUDA)."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer

    notes = []
    cuda = cuda_available()
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    kwargs = {"dtype": dtype}
    if cuda:
        # Straight onto the one visible GPU (the worker pins each run), not into host RAM first.
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    if cfg.precision == "4bit":
        if not cuda:
            raise RuntimeError("4-bit QLoRA needs a CUDA GPU with bitsandbytes; choose precision bf16 on this host.")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    tokenizer = AutoTokenizer.from_pretrained(cfg.base_model)
    model = AutoModelForCausalLM.from_pretrained(cfg.base_model, **kwargs)
    if cfg.precision == "4bit":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    experts = expert_parameters(model) if cfg.train_experts and cfg.precision != "4bit" else []
    if experts:
        notes.append(f"LoRA on fused MoE experts via target_parameters: {experts}")
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=linear_targets(model, cfg.target_modules),
        target_parameters=experts or None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora), tokenizer, notes


def load_unsloth(cfg):
    """Unsloth's FastLanguageModel loader and get_peft_model (CUDA; a CPU fallback exists for tests)."""
    try:
        from unsloth import FastLanguageModel
    except ImportError as exc:
        raise RuntimeError(
            f"Unsloth is not installed ({exc}): on a GPU host `pip install unsloth==2026.10.9`, on a CPU "
            "scripts/install_unsloth_cpu.sh, or choose the trl backend."
        ) from exc

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=cfg.base_model,
        max_seq_length=cfg.max_length,
        load_in_4bit=cfg.precision == "4bit",
        dtype=None,
    )
    experts = expert_parameters(model) if cfg.train_experts and cfg.precision != "4bit" else []
    kwargs = {"target_parameters": experts} if experts else {}
    model = FastLanguageModel.get_peft_model(
        model,
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=linear_targets(model, cfg.target_modules),
        use_gradient_checkpointing="unsloth" if cfg.gradient_checkpointing else False,
        random_state=cfg.seed,
        **kwargs,
    )
    notes = [f"LoRA on fused MoE experts via target_parameters: {experts}"] if experts else []
    return model, tokenizer, notes


LOADERS = {"trl": load_trl, "unsloth": load_unsloth}
