"""Training business logic: create and launch runs, run the child process, stream metrics, merge, chart.

Views, management commands, the admin and the Celery worker all call these.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from gsctune.charts import PALETTE, line_chart, thin
from gsctune.jobs import JobCancelled

from . import estimate as est
from . import merge as merge_mod
from .entry import ERROR_PREFIX, METRIC_PREFIX
from .models import AdapterMerge, TrainingMetric, TrainingRun, artifacts_root

LOG_TAIL_LINES = 80
TERMINATE_GRACE_S = 10


class TrainingError(RuntimeError):
    """The child process failed; the message is its own error line."""


# --------------------------------------------------------------------------- launch


def export_folder(export) -> str:
    """The snapshot folder of a finished export, or a clear error."""
    folder = getattr(export, "folder", "") or ""
    if not folder or not (Path(folder) / "train.jsonl").exists():
        raise ValueError(f"Export {export.pk} has no train.jsonl yet (state {export.state}): wait for it to finish.")
    return folder


def compute_estimate(run: TrainingRun) -> dict:
    """The memory/time estimate and the answer-truncation count for a run's settings (training.estimate)."""
    return est.run_estimate(run)


def create_run(*, base_model: str, export=None, data_dir: str | None = None, user=None, **options) -> TrainingRun:
    """Validate and save a run (queued, not yet sent to a worker) with its estimate."""
    if export is not None:
        data_dir = export_folder(export)
    if not data_dir or not (Path(data_dir) / "train.jsonl").exists():
        raise ValueError(f"No train.jsonl in {data_dir!r}: choose a finished export.")
    run = TrainingRun(base_model=base_model.strip(), export=export, data_dir=str(data_dir), created_by=user,
                      **options)
    try:
        run.full_clean(exclude=["output_dir"])
    except ValidationError as exc:
        raise ValueError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
    run.save()
    run.output_dir = str(artifacts_root() / f"run-{run.pk}")
    run.estimate = compute_estimate(run)
    run.save(update_fields=["output_dir", "estimate"])
    return run


def launch_run(**kwargs) -> TrainingRun:
    """Create a run and queue it on the ``gpu`` queue."""
    with transaction.atomic():
        run = create_run(**kwargs)
        run.enqueue()
    return run


def copy_run(run: TrainingRun, user=None) -> TrainingRun:
    """A new queued run with the same export, base model and settings (the admin's "run again")."""
    fields = run.train_config()
    for key in ("base_model", "data_dir", "output_dir"):
        fields.pop(key)
    extra = {k: getattr(run, k) for k in ("name", "gpu", "gpu_memory_gb", "gpu_price_per_hour")}
    return launch_run(base_model=run.base_model, export=run.export if run.export_id else None,
                      data_dir=None if run.export_id else run.data_dir, user=user, **fields, **extra)


# --------------------------------------------------------------------------- the child process


def _reader(stream, lines: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _terminate(proc: subprocess.Popen) -> None:
    """Stop the child and everything it started (its own process group)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=TERMINATE_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=TERMINATE_GRACE_S)
    except ProcessLookupError:
        pass


def record_metric(run: TrainingRun, rec: dict, progress=None) -> None:
    """Store one metric line from the child and move the run's progress."""
    event = rec.get("event")
    if event == "begin" and progress is not None:
        progress.set_total(rec.get("max_steps") or None)
        progress.message("training")
    elif event in ("train", "eval"):
        TrainingMetric.objects.create(
            run=run, kind=event, step=rec.get("step", 0), epoch=rec.get("epoch"), loss=rec.get("loss"),
            eval_loss=rec.get("eval_loss"), learning_rate=rec.get("learning_rate"), grad_norm=rec.get("grad_norm"),
            tokens_per_s=rec.get("tokens_per_s"), gpu_mem_gb=rec.get("gpu_mem_gb"), elapsed_s=rec.get("elapsed_s"),
        )
        if progress is not None:
            if rec.get("max_steps") and progress.job.progress_total != rec["max_steps"]:
                progress.job.progress_total = rec["max_steps"]
            progress.set_counts(rec.get("step", 0))
    elif event == "params" and progress is not None:
        progress.message(f"{rec['trainable_params']:,} trainable of {rec['total_params']:,} parameters")
    elif event == "done":
        TrainingRun.objects.filter(pk=run.pk).update(final_loss=rec.get("train_loss"))


class DevicePool:
    """The GPUs this worker lends to training children, one each: SFTTrainer refuses several without a launcher.

    A run waits (cancellable) while every device is busy.
    """

    def __init__(self, devices: list[str]):
        self.devices = list(devices) or ["0"]
        self.busy: set[str] = set()
        self.cond = threading.Condition()

    @contextmanager
    def claim(self, progress=None, poll_s: float = 1.0):
        with self.cond:
            while True:
                free = [d for d in self.devices if d not in self.busy]
                if free:
                    device = free[0]
                    self.busy.add(device)
                    break
                if progress is not None:
                    if progress.cancelled:
                        raise JobCancelled()
                    progress.message(f"waiting for a free GPU (all of {','.join(self.devices)} are training)")
                self.cond.wait(poll_s)
        try:
            yield device
        finally:
            with self.cond:
                self.busy.discard(device)
                self.cond.notify_all()


def nvidia_present() -> bool:
    """Whether this host has an NVIDIA driver (the worker does not import torch to ask)."""
    return Path("/proc/driver/nvidia/gpus").is_dir() or shutil.which("nvidia-smi") is not None


def train_devices(environ=os.environ) -> list[str]:
    """settings.TRAIN_GPUS (GSCTUNE_TRAIN_GPUS), else the worker's own CUDA_VISIBLE_DEVICES, else device 0 on a
    host with an NVIDIA driver; none on a CPU host, whose runs are not pinned nor queued behind each other."""
    configured = list(getattr(settings, "TRAIN_GPUS", []) or [])
    if configured:
        return configured
    inherited = [d.strip() for d in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return inherited or (["0"] if nvidia_present() else [])


_POOL: DevicePool | None = None
_POOL_LOCK = threading.Lock()


def device_pool() -> DevicePool | None:
    global _POOL
    devices = train_devices()
    if not devices:
        return None
    with _POOL_LOCK:
        if _POOL is None or _POOL.devices != devices:
            _POOL = DevicePool(devices)
        return _POOL


def child_env(device: str | None) -> dict[str, str]:
    """The child's environment: unbuffered output and exactly one visible GPU ("" hides them all)."""
    env = os.environ | {"PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    if device is not None:
        env["CUDA_VISIBLE_DEVICES"] = device
    return env


def run_child(argv: list[str], log_path: Path, progress, on_line, env: dict[str, str], save_tail=None,
              what: str = "training process") -> None:
    """Run a Python child in its own process group, pass each stdout line to ``on_line``, keep a log tail.

    ``on_line`` returns True for lines it consumed (metrics), which stay out of the tail. A cancel stops the
    child and everything it started; a non-zero exit raises TrainingError with the child's own error line.
    """
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    error = ""
    with open(log_path, "a", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [sys.executable, *argv], cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True,
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
        finished = False
        try:
            while True:
                if progress.cancelled:
                    _terminate(proc)
                    log.write(f"gsctune: cancelled, {what} terminated\n")
                    raise JobCancelled()
                try:
                    line = lines.get(timeout=0.2)
                except queue.Empty:
                    continue
                if line is None:  # stdout closed: the child is exiting on its own
                    proc.wait(timeout=120)
                    finished = True
                    break
                log.write(line + "\n")
                if on_line(line):
                    continue
                tail.append(line)
                if line.startswith(ERROR_PREFIX):
                    error = json.loads(line[len(ERROR_PREFIX):])["error"]
        finally:
            if not finished:
                _terminate(proc)
            log.flush()
            if save_tail is not None:
                save_tail("\n".join(tail))
    code = proc.wait()
    if code != 0:
        if code < 0:
            error = error or f"the {what} was killed by signal {-code} (out of memory?)"
        raise TrainingError(error or f"the {what} exited with code {code}; see the log tail")


def run_training(run: TrainingRun, progress) -> None:
    """Run ``python -m training.entry`` as a child process on one GPU and stream its metrics into the database."""
    out = Path(run.output_dir or artifacts_root() / f"run-{run.pk}")
    out.mkdir(parents=True, exist_ok=True)
    if not run.output_dir:
        run.output_dir = str(out)
        TrainingRun.objects.filter(pk=run.pk).update(output_dir=run.output_dir)
    TrainingMetric.objects.filter(run=run).delete()  # a resumed run starts its curves again
    (out / "metrics.jsonl").unlink(missing_ok=True)
    config_path = out / "train_config.json"
    config_path.write_text(json.dumps(run.train_config(), indent=2))

    def on_line(line: str) -> bool:
        if line.startswith(METRIC_PREFIX):
            record_metric(run, json.loads(line[len(METRIC_PREFIX):]), progress)
            return True
        return False

    pool = device_pool()
    with pool.claim(progress) if pool else nullcontext() as device:
        progress.message("starting the training process" + (f" on GPU {device}" if device is not None else ""))
        run_child(["-m", "training.entry", "--config", str(config_path)], out / "train.log", progress, on_line,
                  child_env(device), save_tail=lambda text: TrainingRun.objects.filter(pk=run.pk).update(log_tail=text))
    progress.message("adapter saved")


def run_merge(job: AdapterMerge, progress) -> None:
    """Merge, convert to GGUF, quantize and write the Modelfile in a child process (a host OOM ends only it).

    A missing tool is reported, not raised; each step's message is kept once.
    """
    run = job.run
    if not run.has_adapter:
        raise ValueError(f"Run {run.pk} has no adapter yet (state {run.state}).")
    out = Path(job.output_dir or Path(run.output_dir) / f"merge-{job.pk}")
    out.mkdir(parents=True, exist_ok=True)
    AdapterMerge.objects.filter(pk=job.pk).update(output_dir=str(out))
    # disk, merge, GGUF, Modelfile, llama-server command
    progress.set_total(5 + (job.quant == "Q4_K_M") + bool(job.ollama_name))
    steps: list[str] = []
    found: dict = {}

    def on_line(line: str) -> bool:
        if line.startswith(merge_mod.STEP_PREFIX):
            steps.append(line[len(merge_mod.STEP_PREFIX):])
            progress.advance()
            progress.message(steps[-1][:500])
            return True
        if line.startswith(merge_mod.RESULT_PREFIX):
            found.update(json.loads(line[len(merge_mod.RESULT_PREFIX):]))
            return True
        return False

    argv = ["-m", "training.merge", "--adapter", str(run.adapter_dir), "--out", str(out), "--quant", job.quant or "",
            "--base-model", run.base_model, "--data-dir", run.data_dir or "", "--llama-dir", llama_cpp_dir()]
    if job.ollama_name:
        argv += ["--ollama-name", job.ollama_name]
    try:
        run_child(argv, out / "merge.log", progress, on_line, child_env(""), what="merge process")  # on the host CPU
    finally:
        AdapterMerge.objects.filter(pk=job.pk).update(result=found | {"log": steps})
    skipped = len(found.get("missing", []))
    # A summary, not the last step again: every step and skip is listed once on the run page.
    progress.message(f"finished: {len(steps)} steps done" + (f", {skipped} skipped" if skipped else ""))


def llama_cpp_dir() -> str:
    """settings.LLAMA_CPP_DIR (default var/llama.cpp, where scripts/get_llama_cpp.sh puts it).

    The merge step checks it and names the next step when the converter is not there.
    """
    return str(settings.LLAMA_CPP_DIR)


def launch_merge(run: TrainingRun, quant: str = "Q8_0", ollama_name: str = "", user=None) -> AdapterMerge:
    if not run.has_adapter:
        raise ValueError(f"Run {run.pk} has no adapter to merge (state {run.get_state_display()}).")
    with transaction.atomic():
        job = AdapterMerge.objects.create(run=run, quant=quant, ollama_name=ollama_name.strip(), created_by=user)
        job.enqueue()
    return job


# --------------------------------------------------------------------------- the run page


@dataclass
class RunNumbers:
    step: int
    max_steps: int | None
    last_loss: float | None
    last_eval_loss: float | None
    tokens_per_s: float | None
    eta: timedelta | None
    cost_so_far: Decimal | None
    cost_projected: Decimal | None


def run_numbers(run: TrainingRun) -> RunNumbers:
    """Progress, ETA and elapsed cost at the run's GPU price per hour."""
    train = run.metrics.filter(kind="train").order_by("-step").first()
    evals = run.metrics.filter(kind="eval").order_by("-step").first()
    elapsed = run.elapsed
    step, total = run.progress_done, run.progress_total
    eta = None
    if run.is_active and train and train.elapsed_s and step and total:
        eta = timedelta(seconds=train.elapsed_s / step * max(total - step, 0))
    cost = projected = None
    if elapsed:
        hours = Decimal(elapsed.total_seconds()) / Decimal(3600)
        cost = (hours * run.gpu_price_per_hour).quantize(Decimal("0.01"))
        if eta is not None:
            projected = ((hours + Decimal(eta.total_seconds()) / Decimal(3600)) * run.gpu_price_per_hour).quantize(
                Decimal("0.01"))
    recent = [m.tokens_per_s for m in run.metrics.filter(kind="train", tokens_per_s__isnull=False)
              .order_by("-step")[:10]]
    return RunNumbers(step=step, max_steps=total, last_loss=train.loss if train else None,
                      last_eval_loss=evals.eval_loss if evals else None,
                      tokens_per_s=sum(recent) / len(recent) if recent else None,
                      eta=eta, cost_so_far=cost, cost_projected=projected)


def chart(runs: list[TrainingRun], width: int = 640, height: int = 240, pad: int = 36) -> dict:
    """Loss and eval-loss curves of one or several runs (drawn server-side, see gsctune.charts)."""
    series = []
    for i, run in enumerate(runs):
        color = PALETTE[i % len(PALETTE)]
        rows = list(run.metrics.order_by("step").values_list("kind", "step", "loss", "eval_loss"))
        train = thin([(s, v) for k, s, v, _ in rows if k == "train" and v is not None])
        evals = thin([(s, v) for k, s, _, v in rows if k == "eval" and v is not None])
        if train:
            series.append({"run": run, "label": f"{run} loss", "color": color, "points": train, "dashed": False})
        if evals:
            series.append({"run": run, "label": f"{run} eval", "color": color, "points": evals, "dashed": True})
    return line_chart(series, width, height, pad)


def run_files(run: TrainingRun) -> list[dict]:
    """Downloadable artifacts of a run: adapter, tokenizer, resolved config, log, metrics, mask preview."""
    root = Path(run.output_dir) if run.output_dir else None
    if root is None or not root.exists():
        return []
    files = []
    for rel in DOWNLOADABLE:
        path = root / rel
        if path.is_file():
            files.append({"name": rel, "size": path.stat().st_size})
    return files


DOWNLOADABLE = (
    "adapter/adapter_model.safetensors", "adapter/adapter_config.json", "adapter/tokenizer.json",
    "adapter/tokenizer_config.json", "adapter/chat_template.jinja", "resolved_config.json", "train_config.json",
    "train.log", "metrics.jsonl", "mask_preview.txt",
)
# What a merge leaves to download (the merged model folder is too large and stays on the worker).
MERGE_DOWNLOADABLE = ("model-Q8_0.gguf", "model-Q4_K_M.gguf", "model-bf16.gguf", "Modelfile", "merge.log")


def merge_files(job: AdapterMerge) -> list[dict]:
    """A merge's GGUF files, Modelfile and log, named ``merge-<id>/<file>`` for the download view."""
    if not job.output_dir or not Path(job.output_dir).is_dir():
        return []
    files = []
    for name in MERGE_DOWNLOADABLE:
        path = Path(job.output_dir) / name
        if path.is_file():
            files.append({"name": f"merge-{job.pk}/{name}", "label": name, "size": path.stat().st_size})
    return files


def merges_with_files(run: TrainingRun) -> list[AdapterMerge]:
    """The run's merges, newest first, each with its downloadable ``files``."""
    merges = list(run.merges.order_by("-pk"))
    for job in merges:
        job.files = merge_files(job)
    return merges


def artifact_path(run: TrainingRun, name: str) -> Path | None:
    """The file behind a download name, from the fixed lists only (never an arbitrary path)."""
    if not run.output_dir:
        return None
    if name in DOWNLOADABLE:
        path = Path(run.output_dir) / name
        return path if path.is_file() else None
    head, _, file = name.partition("/")
    if head.startswith("merge-") and head[6:].isdigit() and file in MERGE_DOWNLOADABLE:
        job = run.merges.filter(pk=int(head[6:])).first()
        if job is not None and job.output_dir:
            path = Path(job.output_dir) / file
            return path if path.is_file() else None
    return None
