"""The training launch form (sections, presets, the launch rules as field errors) and the merge form."""

from __future__ import annotations

from django import forms

from gsctune import targets
from gsctune.jobs import JobState
from labeling.models import SFTExport

from . import rules
from .defaults import DEFAULTS
from .models import BASE_MODEL_PRESETS, AdapterMerge, TrainingRun

# (legend, help, fields): the order a person fills the form in.
SECTIONS = [
    ("Data", "The export snapshot to train on, and how its conversations become training sequences.",
     ["name", "export", "max_length", "packing", "assistant_only_loss"]),
    ("Base model and backend", "What is finetuned, and with which loader.",
     ["base_model", "backend", "precision"]),
    ("LoRA", "The adapter: its rank, scaling and which weights it wraps.",
     ["lora_r", "lora_alpha", "lora_dropout", "target_modules", "train_experts"]),
    ("Optimization", "Learning rate schedule, batch and run length.",
     ["optimizer", "learning_rate", "scheduler", "warmup_ratio", "batch_size", "grad_accum", "epochs",
      "max_steps", "eval_steps", "seed"]),
    ("Hardware and cost", "For the estimate beside the form and the cost on the run page.",
     ["gpu", "gpu_memory_gb", "gpu_price_per_hour"]),
]
LAUNCH_FIELDS = [f for _, _, names in SECTIONS for f in names]

# Shown only when the controlling field has one of the values (static/js/training.js reads data-show-when).
SHOW_WHEN = {
    "train_experts": "precision=bf16",  # 4-bit trains attention only; the experts stay frozen
    "gpu_memory_gb": "gpu=custom",
}

HELP = {
    "name": "Optional; shown in the run list.",
    "export": "A finished export snapshot (its train.jsonl and val.jsonl); the run serves its target. "
              "git-smart-commit: the tool's tool-call conversations, loss on every assistant turn. "
              "json-files: one JSON answer per example.",
    "max_length": "Tokens per training sequence; longer conversations are cut at the end, where the answer is.",
    "packing": "Pack several short conversations into one sequence (faster on short examples).",
    "assistant_only_loss": "Learn only from the assistant's answer, not from the prompt.",
    "base_model": "Hugging Face id or a local model folder.",
    "backend": "Unsloth: faster on a CUDA GPU, 4-bit MoE works. TRL + PEFT: plain transformers.",
    "precision": "bf16 LoRA keeps the base weights in bf16; 4-bit QLoRA quantizes them (attention-only on MoE).",
    "lora_r": "Rank of the adapter matrices.",
    "lora_alpha": "Scaling: the update is multiplied by alpha / r.",
    "lora_dropout": "Must be 0 when LoRA trains MoE experts.",
    "train_experts": "On MoE models, LoRA on the fused expert weights too (bf16 only).",
    "learning_rate": "Peak learning rate, reached after warmup.",
    "scheduler": "Learning-rate schedule (the installed transformers' SchedulerType).",
    "warmup_ratio": "Fraction of the steps spent warming up.",
    "optimizer": "The installed transformers' OptimizerNames; 8-bit ones need bitsandbytes on a CUDA GPU.",
    "batch_size": "Sequences per step on the GPU.",
    "grad_accum": "Steps accumulated per optimizer update (effective batch = batch × this).",
    "epochs": "Passes over the train set (ignored when max steps is set).",
    "max_steps": "-1 runs the epochs; a positive number stops there.",
    "eval_steps": "Evaluate every N steps, or a fraction (< 1) of all steps.",
    "seed": "Seed for shuffling and LoRA initialisation.",
    "gpu": "The GPU the worker has.",
    "gpu_memory_gb": "Memory of the custom GPU.",
    "gpu_price_per_hour": "What an hour of that GPU costs you.",
}


def _seed_plan() -> dict:
    """The seed plan's settings: TrainConfig's defaults (the entry's) on Qwen3-Coder-30B-A3B with Unsloth."""
    return {k: v for k, v in DEFAULTS.items() if k in LAUNCH_FIELDS} | {"base_model": BASE_MODEL_PRESETS[0]}


def presets() -> list[dict]:
    """One-click settings for the launch form (filled in by static/js/training.js)."""
    seed = _seed_plan()
    return [
        {"name": "Seed plan", "help": "bf16 LoRA r32 / alpha 64, lr 1.5e-4, batch 4×4, 3 epochs, cosine, "
                                      "warmup 0.1, max length 8192, adamw_8bit", "values": seed},
        {"name": "4-bit QLoRA", "help": "The seed plan in 4-bit on Unsloth (attention only on MoE; about 20-31 GB on the 30B-A3B)",
         "values": seed | {"precision": TrainingRun.Precision.QLORA}},
        {"name": "Quick check", "help": "20 steps of the seed plan, to see that everything loads and learns",
         "values": seed | {"max_steps": 20, "eval_steps": 10}},
    ]


class LaunchForm(forms.ModelForm):
    preview_run: TrainingRun | None = None  # set by clean() once the settings can be read
    target_modules = forms.CharField(initial=" ".join(DEFAULTS["target_modules"]), label="Target modules",
                                     help_text="Projection names, space separated (all linear layers by default).")
    scheduler = forms.ChoiceField(initial=DEFAULTS["scheduler"], help_text=HELP["scheduler"])
    optimizer = forms.ChoiceField(initial=DEFAULTS["optimizer"], help_text=HELP["optimizer"])

    class Meta:
        model = TrainingRun
        fields = LAUNCH_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scheduler"].choices = [(s, s) for s in rules.scheduler_names()]
        self.fields["optimizer"].choices = rules.optimizer_choices()
        self.fields["export"].queryset = SFTExport.objects.filter(state=JobState.SUCCEEDED)
        self.fields["export"].required = True
        self.fields["export"].label_from_instance = targets.choice_label
        self.fields["base_model"].widget.attrs["list"] = "base-model-presets"
        for name, field in self.fields.items():
            if name in HELP and name not in ("scheduler", "optimizer"):
                field.help_text = HELP[name]
            if name in SHOW_WHEN:
                field.widget.attrs["data-show-when"] = SHOW_WHEN[name]
        if isinstance(self.initial.get("target_modules"), list):
            self.initial["target_modules"] = " ".join(self.initial["target_modules"])

    def sections(self) -> list[dict]:
        return [{"legend": legend, "help": text, "fields": [self[n] for n in names], "show_when": {
            n: SHOW_WHEN[n] for n in names if n in SHOW_WHEN}} for legend, text, names in SECTIONS]

    def clean_target_modules(self):
        names = self.cleaned_data["target_modules"].split()
        if not names:
            raise forms.ValidationError("Name at least one projection.")
        return names

    def options(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("export")
        data.pop("base_model")
        return data

    def preview(self) -> TrainingRun:
        """An unsaved run with these settings, for the estimate and the launch rules."""
        export = self.cleaned_data["export"]
        return TrainingRun(base_model=self.cleaned_data["base_model"].strip(), export=export,
                           data_dir=export.folder, **self.options())

    def clean(self):
        data = super().clean()
        self.preview_run = None
        if data.get("gpu") == "custom" and not data.get("gpu_memory_gb"):
            self.add_error("gpu_memory_gb", "Give the memory of the custom GPU.")
        if self.errors or not data.get("export"):
            return data
        self.preview_run = self.preview()
        for name, message in rules.launch_problems(self.preview()):
            self.add_error(name if name in self.fields else None, message)
        return data


class MergeForm(forms.Form):
    quant = forms.ChoiceField(choices=AdapterMerge.Quant.choices, initial="Q8_0", required=False)
    ollama_name = forms.RegexField(regex=r"^[A-Za-z0-9._:/-]*$", required=False, max_length=200,
                                   help_text="Also `ollama create` this name when ollama is on the worker's PATH.")
