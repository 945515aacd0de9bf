"""Launch rules for a training run, written once for the launch form, ``manage.py train`` and the entry.

Django-free (the training entry runs without Django). ``problems(cfg)`` takes a
dict of ``training.entry.TrainConfig`` fields and returns ``(field, message)``
pairs; an empty list means the settings can be launched. Each rule is a
combination that would otherwise fail on the GPU worker after the model load.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
from pathlib import Path

from training import estimate as est

BACKENDS = ("trl", "unsloth")
PRECISIONS = ("bf16", "4bit")
QUICK_OPTIMIZERS = ("adamw_8bit", "adamw_torch", "adamw_torch_fused", "paged_adamw_8bit", "adafactor", "sgd")

TRL_4BIT_MOE = (
    "TRL + 4-bit on an MoE model is refused: bitsandbytes leaves the fused expert weights in bf16 and PEFT's "
    "k-bit preparation casts them to fp32 ({gb:.0f} GB for the experts of this model). Use the unsloth backend "
    "for 4-bit, or bf16 LoRA."
)
EXPERT_DROPOUT = (
    "LoRA dropout must be 0 when LoRA also trains the MoE experts: PEFT's wrapper for expert parameters "
    "(target_parameters) does not support dropout. Set it to 0, or untick \"train experts\"."
)


# --------------------------------------------------------------------------- what transformers offers


@functools.cache
def scheduler_names() -> tuple[str, ...]:
    """Learning-rate schedules of the installed transformers (``SchedulerType``)."""
    from transformers.trainer_utils import SchedulerType

    return tuple(s.value for s in SchedulerType)


@functools.cache
def optimizer_needs() -> dict[str, str]:
    """Every ``OptimizerNames`` value of the installed transformers, with what it needs beyond torch ('' = none)."""
    from transformers import trainer_optimizer as to
    from transformers.training_args import OptimizerNames

    needs = {o.value: "" for o in OptimizerNames}
    groups = {
        "_BITSANDBYTES_OPTIMIZERS": "needs bitsandbytes and a CUDA GPU",
        "_GALORE_OPTIMIZERS": "needs galore-torch",
        "_APOLLO_OPTIMIZERS": "needs apollo-torch",
        "_TORCHAO_OPTIMIZERS": "needs torchao",
        "_SCHEDULE_FREE_OPTIMIZERS": "needs schedulefree",
    }
    for attr, text in groups.items():
        for name in getattr(to, attr, ()):
            needs[getattr(name, "value", name)] = text
    single = {"adamw_torch_xla": "needs torch_xla (TPU)", "adamw_torch_npu_fused": "needs an Ascend NPU",
              "adamw_anyprecision": "needs torchdistx", "lomo": "needs lomo-optim", "adalomo": "needs lomo-optim",
              "grokadamw": "needs grokadamw", "stable_adamw": "needs torch-optimi"}
    for name, text in single.items():
        if name in needs:
            needs[name] = text
    return needs


def optimizer_choices() -> list:
    """Grouped choices for a select: the usual ones first, then everything else the installed transformers has."""

    def label(name: str) -> str:
        need = optimizer_needs()[name]
        return f"{name} ({need})" if need else name

    names = optimizer_needs()
    quick = [(n, label(n)) for n in QUICK_OPTIMIZERS if n in names]
    rest = [(n, label(n)) for n in sorted(names) if n not in QUICK_OPTIMIZERS]
    return [("Usual", quick), ("Other optimizers of the installed transformers", rest)]


# --------------------------------------------------------------------------- the model that will be loaded


def _unsloth_mapper_file() -> Path | None:
    spec = importlib.util.find_spec("unsloth")  # finds the package without importing (and patching) it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "mapper.py"
    return path if path.exists() else None


@functools.cache
def _unsloth_tables() -> tuple[dict, dict, dict, dict] | None:
    """Unsloth's own name tables (models/mapper.py, and loader_utils' BAD_MAPPINGS), read without importing unsloth.

    ``mapper.py`` imports nothing, so it is executed as a standalone module; BAD_MAPPINGS is a literal of
    ``"name".lower(): "name"`` pairs, read from the syntax tree.
    """
    path = _unsloth_mapper_file()
    if path is None:
        return None
    spec = importlib.util.spec_from_file_location("_gsctune_unsloth_mapper", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bad: dict[str, str] = {}
    loader_utils = path.with_name("loader_utils.py")
    if loader_utils.exists():
        for node in ast.parse(loader_utils.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "BAD_MAPPINGS" for t in node.targets):
                for key, value in zip(node.value.keys, node.value.values):
                    if isinstance(key, ast.Call) and isinstance(key.func, ast.Attribute):
                        key = key.func.value
                    if isinstance(key, ast.Constant) and isinstance(value, ast.Constant):
                        bad[str(key.value).lower()] = value.value
    return module.INT_TO_FLOAT_MAPPER, module.FLOAT_TO_INT_MAPPER, module.MAP_TO_UNSLOTH_16bit, bad


def unsloth_model_id(base_model: str, precision: str = "bf16") -> str:
    """The repository Unsloth's loader will actually fetch for ``base_model`` (its own copy for known models).

    The same order as unsloth's ``get_model_name``: for 16-bit its float mapping, for 4-bit its
    pre-quantized repository (an explicit ``-bnb-4bit`` name is kept), then its list of bad mappings.
    """
    tables = _unsloth_tables()
    if tables is None or Path(base_model).expanduser().exists():
        return base_model
    int_to_float, float_to_int, to_16bit, bad = tables
    lower = base_model.lower()
    new = None
    if precision != "4bit":
        new = int_to_float.get(lower) or to_16bit.get(lower)
    elif lower in float_to_int and not lower.endswith("-bnb-4bit"):
        new = float_to_int[lower]
    if new is None:
        return bad.get(lower, base_model)
    return bad.get(new.lower(), new)


def loaded_model_id(cfg: dict) -> str:
    """What the chosen backend loads for the run's base model."""
    if cfg.get("backend") == "unsloth":
        return unsloth_model_id(cfg["base_model"], cfg.get("precision", "bf16"))
    return cfg["base_model"]


def offline_model_problem(cfg: dict) -> str | None:
    """With HF_HUB_OFFLINE=1, the model the backend will load must be in the local cache (a readable reason if not)."""
    base = cfg["base_model"]
    if Path(base).expanduser().exists() or os.environ.get("HF_HUB_OFFLINE") != "1":
        return None
    loaded = loaded_model_id(cfg)
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(loaded, "config.json"), str):
        return None
    via = f" (the {cfg.get('backend')} backend loads {loaded} for {base})" if loaded != base else ""
    return (f"Base model {loaded} is not in the Hugging Face cache and HF_HUB_OFFLINE=1{via}: "
            f"run `huggingface-cli download {loaded}` on this host first.")


# --------------------------------------------------------------------------- the rules


def model_config(cfg: dict) -> dict | None:
    """The base model's config.json (local folder, preset, or cache of what the backend loads); None if unknown."""
    for name in dict.fromkeys([cfg["base_model"], loaded_model_id(cfg)]):
        try:
            return est.load_model_config(name)
        except est.ConfigNotFound:
            continue
    return None


def problems(cfg: dict, config: dict | None = None) -> list[tuple[str, str]]:
    """Every reason these settings would fail on the worker, as (field, message); [] when they can run."""
    out: list[tuple[str, str]] = []
    backend, precision = cfg.get("backend", "trl"), cfg.get("precision", "bf16")
    if backend not in BACKENDS:
        out.append(("backend", f"Backend must be one of {', '.join(BACKENDS)}, not {backend!r}."))
    if precision not in PRECISIONS:
        out.append(("precision", f"Precision must be one of {', '.join(PRECISIONS)}, not {precision!r}."))
    scheduler = cfg.get("scheduler", "cosine")
    if scheduler not in scheduler_names():
        out.append(("scheduler", f"Unknown scheduler {scheduler!r}: the installed transformers offers "
                                 f"{', '.join(scheduler_names())}."))
    optimizer = cfg.get("optimizer", "adamw_8bit")
    if optimizer not in optimizer_needs():
        out.append(("optimizer", f"Unknown optimizer {optimizer!r}: choose one of the installed transformers' "
                                 f"OptimizerNames (e.g. {', '.join(QUICK_OPTIMIZERS)})."))
    config = config if config is not None else model_config(cfg)
    shapes = est.Shapes.from_config(config) if config else None
    if shapes is not None and shapes.experts:
        if backend == "trl" and precision == "4bit":
            out.append(("precision", TRL_4BIT_MOE.format(gb=shapes.expert_params() * 4 / est.GB)))
        if cfg.get("train_experts", True) and precision != "4bit" and float(cfg.get("lora_dropout") or 0) > 0:
            out.append(("lora_dropout", EXPERT_DROPOUT))
    return out


def as_text(found: list[tuple[str, str]]) -> str:
    return " ".join(f"{name}: {message}" for name, message in found)


def raise_problems(cfg: dict) -> None:
    """For the entry: one ValueError naming every problem."""
    found = problems(cfg)
    if found:
        raise ValueError(as_text(found))


def launch_problems(run) -> list[tuple[str, str]]:
    """Before a launch (form, command): ``problems`` of the run's settings, and the answer check on its data.

    ``run`` is anything with TrainingRun's fields and ``train_config()`` (an unsaved TrainingRun).
    """
    found = problems(run.train_config())
    if run.data_dir and (Path(run.data_dir) / "train.jsonl").exists():
        lengths = est.conversation_lengths(run.data_dir, est.tokenizer_candidates(run))
        problem = answer_problem(est.answer_loss(lengths, run.max_length))
        if problem:
            found.append(("max_length", problem))
    return found


# --------------------------------------------------------------------------- examples that keep their answer


def answer_problem(loss: est.AnswerLoss) -> str | None:
    """The refusal when max length would leave no train example with any answer token to learn from."""
    if loss.total and loss.lost_all == loss.total:
        return (f"{loss.message()}: no train example would keep an answer token to learn from. Raise max length "
                f"above {loss.shortest_prompt:,} tokens (the shortest prompt), or export with shorter diffs.")
    return None


def require_trainable_examples(cfg, tokenizer) -> None:
    """Worker side: refuse, in words, a run whose every train example loses its answer at max length.

    Without this TRL drops the fully masked examples and the sampler fails with ``num_samples=0``.
    """
    data_dir = cfg.data_dir if hasattr(cfg, "data_dir") else cfg["data_dir"]
    max_length = cfg.max_length if hasattr(cfg, "max_length") else cfg["max_length"]
    lengths = est.conversation_lengths_with(Path(data_dir) / "train.jsonl", tokenizer)
    problem = answer_problem(est.answer_loss(lengths, max_length))
    if problem:
        raise ValueError(f"max_length: {problem}")

