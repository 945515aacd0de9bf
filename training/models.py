"""Training runs (LoRA finetunes on a GPU worker), their step metrics, and adapter merges."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from gsctune import targets
from gsctune.jobs import Job

from .defaults import DEFAULTS

BASE_MODEL_PRESETS = [
    "Qwen/Qwen3-Coder-30B-A3B-Instruct",
    "Qwen/Qwen3-8B",
    "Qwen/Qwen2.5-Coder-7B-Instruct",
]
GPU_CHOICES = [("H100 80GB", "H100 80 GB"), ("H200 141GB", "H200 141 GB"), ("A100 80GB", "A100 80 GB"),
               ("custom", "Custom size")]


def default_targets() -> list[str]:
    return list(DEFAULTS["target_modules"])


class TrainingRun(Job):
    """One LoRA finetune of a base model on an export snapshot, run in a child process on the ``gpu`` queue."""

    class Backend(models.TextChoices):
        UNSLOTH = "unsloth", "Unsloth"
        TRL = "trl", "TRL + PEFT"

    class Precision(models.TextChoices):
        BF16 = "bf16", "bf16 LoRA"
        QLORA = "4bit", "4-bit QLoRA"

    queue = "gpu"
    status_template = "training/_status.html"

    name = models.CharField(max_length=200, blank=True)
    export = models.ForeignKey("labeling.SFTExport", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="training_runs")
    data_dir = models.CharField(max_length=1000, blank=True,
                                help_text="Folder with train.jsonl and val.jsonl (the export's, when one is chosen).")
    base_model = models.CharField(max_length=500, help_text="Hugging Face id or local folder.")
    backend = models.CharField(max_length=10, choices=Backend.choices, default=DEFAULTS["backend"])
    precision = models.CharField(max_length=5, choices=Precision.choices, default=DEFAULTS["precision"])
    lora_r = models.PositiveIntegerField("LoRA rank", default=DEFAULTS["lora_r"], validators=[MinValueValidator(1), MaxValueValidator(1024)])
    lora_alpha = models.PositiveIntegerField("LoRA alpha", default=DEFAULTS["lora_alpha"], validators=[MinValueValidator(1)])
    lora_dropout = models.FloatField("LoRA dropout", default=DEFAULTS["lora_dropout"], validators=[MinValueValidator(0), MaxValueValidator(0.9)])
    target_modules = models.JSONField(default=default_targets)
    train_experts = models.BooleanField(default=DEFAULTS["train_experts"], help_text="On MoE models, LoRA on the expert weights too.")
    learning_rate = models.FloatField(default=DEFAULTS["learning_rate"], validators=[MinValueValidator(0)])
    batch_size = models.PositiveIntegerField(default=DEFAULTS["batch_size"], validators=[MinValueValidator(1)])
    grad_accum = models.PositiveIntegerField(default=DEFAULTS["grad_accum"], validators=[MinValueValidator(1)])
    epochs = models.FloatField(default=DEFAULTS["epochs"], validators=[MinValueValidator(0)])
    max_steps = models.IntegerField(default=DEFAULTS["max_steps"], help_text="-1: run the epochs.")
    warmup_ratio = models.FloatField(default=DEFAULTS["warmup_ratio"], validators=[MinValueValidator(0), MaxValueValidator(0.99)])
    scheduler = models.CharField(max_length=40, default=DEFAULTS["scheduler"])
    max_length = models.PositiveIntegerField(default=DEFAULTS["max_length"], validators=[MinValueValidator(16)])
    packing = models.BooleanField(default=DEFAULTS["packing"])
    assistant_only_loss = models.BooleanField(default=DEFAULTS["assistant_only_loss"])
    optimizer = models.CharField(max_length=40, default=DEFAULTS["optimizer"])
    seed = models.IntegerField(default=DEFAULTS["seed"])
    eval_steps = models.FloatField(default=DEFAULTS["eval_steps"], help_text="Evaluate every N steps, or a fraction (<1) of all steps.")

    gpu = models.CharField("GPU", max_length=20, choices=GPU_CHOICES, default="H100 80GB")
    gpu_memory_gb = models.FloatField("GPU memory (GB)", null=True, blank=True, help_text="For a custom GPU.")
    gpu_price_per_hour = models.DecimalField("GPU price per hour ($)", max_digits=8, decimal_places=2, default=Decimal("2.50"))

    output_dir = models.CharField(max_length=1000, blank=True)
    estimate = models.JSONField(default=dict, blank=True)
    log_tail = models.TextField(blank=True)
    final_loss = models.FloatField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Run {self.pk}{': ' + self.name if self.name else ''}"

    def get_absolute_url(self) -> str:
        return reverse("training-detail", args=[self.pk])

    @property
    def serves(self) -> targets.Served | None:
        """Its export's target (None for a bare data folder: nothing records one)."""
        return self.export.serves if self.export_id else None


    @property
    def last_train_loss(self) -> float | None:
        """The final loss shown everywhere: the last logged training step's (``final_loss`` holds the trainer's
        average over all steps)."""
        return (self.metrics.filter(kind="train", loss__isnull=False).order_by("-step")
                .values_list("loss", flat=True).first())

    @property
    def adapter_dir(self) -> Path:
        return Path(self.output_dir) / "adapter"

    @property
    def has_adapter(self) -> bool:
        return bool(self.output_dir) and (self.adapter_dir / "adapter_config.json").exists()

    def train_config(self) -> dict:
        """The fields of ``training.entry.TrainConfig`` for this run."""
        return {
            "base_model": self.base_model, "data_dir": self.data_dir, "output_dir": self.output_dir,
            "backend": self.backend, "precision": self.precision, "lora_r": self.lora_r,
            "lora_alpha": self.lora_alpha, "lora_dropout": self.lora_dropout,
            "target_modules": list(self.target_modules), "train_experts": self.train_experts,
            "learning_rate": self.learning_rate, "batch_size": self.batch_size, "grad_accum": self.grad_accum,
            "epochs": self.epochs, "max_steps": self.max_steps, "warmup_ratio": self.warmup_ratio,
            "scheduler": self.scheduler, "max_length": self.max_length, "packing": self.packing,
            "assistant_only_loss": self.assistant_only_loss, "optimizer": self.optimizer, "seed": self.seed,
            "eval_steps": self.eval_steps,
        }


class TrainingMetric(models.Model):
    """One logged training step or evaluation of a run, streamed from the child process."""

    class Kind(models.TextChoices):
        TRAIN = "train", "train"
        EVAL = "eval", "eval"

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metrics")
    kind = models.CharField(max_length=5, choices=Kind.choices)
    step = models.PositiveIntegerField()
    epoch = models.FloatField(null=True, blank=True)
    loss = models.FloatField(null=True, blank=True)
    eval_loss = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    grad_norm = models.FloatField(null=True, blank=True)
    tokens_per_s = models.FloatField(null=True, blank=True)
    gpu_mem_gb = models.FloatField(null=True, blank=True)
    elapsed_s = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["run", "step", "kind"]
        indexes = [models.Index(fields=["run", "kind", "step"])]


class AdapterMerge(Job):
    """Merge a run's adapter into its base model, convert to GGUF, quantize, write an Ollama Modelfile."""

    queue = "gpu"

    class Quant(models.TextChoices):
        Q8_0 = "Q8_0", "Q8_0"
        Q4_K_M = "Q4_K_M", "Q4_K_M"
        NONE = "", "f16 only"

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="merges")
    quant = models.CharField(max_length=8, choices=Quant.choices, default=Quant.Q8_0, blank=True)
    ollama_name = models.CharField(max_length=200, blank=True)
    output_dir = models.CharField(max_length=1000, blank=True)
    result = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"Merge {self.pk} of run {self.run_id}"

    def get_absolute_url(self) -> str:
        return reverse("training-detail", args=[self.run_id])



def artifacts_root() -> Path:
    return Path(settings.ARTIFACTS_DIR) / "training"
