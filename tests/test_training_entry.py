"""The training entry module's failures, the CPU loss fallback, and the merge step's missing-tool messages.

Successful training, reload, merge and GGUF export run through the worker and the commands in
tests/test_training_runs.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_training import quick_options
from training import merge
from training.entry import METRIC_PREFIX

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def export_dir(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps({"messages": [
        {"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "{}"}]})
        + "\n")
    return folder


def train(tmp: Path, base: Path, export: Path, **extra) -> tuple[subprocess.CompletedProcess, list[dict]]:
    cfg = {"base_model": str(base), "data_dir": str(export), "output_dir": str(tmp / "out"), "backend": "trl",
           **quick_options(**extra)}
    (tmp / "cfg.json").write_text(json.dumps(cfg))
    proc = subprocess.run([sys.executable, "-m", "training.entry", "--config", str(tmp / "cfg.json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    metrics = [json.loads(line[len(METRIC_PREFIX):]) for line in proc.stdout.splitlines()
               if line.startswith(METRIC_PREFIX)]
    return proc, metrics


def test_bad_base_model_fails_with_a_clear_message(export_dir, tmp_path):
    proc, _ = train(tmp_path, tmp_path / "no-such-model", export_dir)
    assert proc.returncode != 0
    assert "GSCTUNE_ERROR" in proc.stdout and "Base model folder not found" in proc.stdout
    proc, _ = train(tmp_path, tmp_path, export_dir)
    assert "has no config.json" in proc.stdout


def test_missing_train_file_is_named(tmp_path):
    proc, _ = train(tmp_path, tmp_path, tmp_path / "nowhere")
    assert proc.returncode != 0 and "No train.jsonl in" in proc.stdout and "SFT export folder" in proc.stdout


def test_unknown_option_is_named(export_dir, tmp_path):
    proc, _ = train(tmp_path, tmp_path, export_dir, lora_rank=4)
    assert proc.returncode != 0 and "Unknown training option(s): lora_rank" in proc.stdout


def test_cpu_fallback_of_the_fused_lm_head_matches_cross_entropy():
    import torch

    from training.compat import _torch_logprob

    torch.manual_seed(0)
    hidden, weight = torch.randn(5, 8, requires_grad=True), torch.randn(11, 8)
    targets = torch.tensor([1, 4, 0, 10, 3])
    log_probs, entropy, _, _, is_top1 = _torch_logprob(hidden, weight, None, targets, 1.0, 4096)
    expected = -torch.nn.functional.cross_entropy(hidden @ weight.t(), targets, reduction="none")
    assert torch.allclose(log_probs, expected, atol=1e-6)
    assert (entropy > 0).all() and is_top1.dtype == torch.bool
    log_probs.sum().backward()
    assert hidden.grad is not None


def test_missing_tools_are_named_with_the_next_step(tmp_path, monkeypatch):
    monkeypatch.delenv("LLAMA_CPP_DIR", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(merge.MissingTool, match="LLAMA_CPP_DIR is unset.*get_llama_cpp.sh"):
        merge.convert_to_gguf(tmp_path, tmp_path / "x.gguf")
    with pytest.raises(merge.MissingTool, match="No convert_hf_to_gguf.py"):
        merge.llama_cpp_dir(tmp_path)
    with pytest.raises(merge.MissingTool, match="BUILD_QUANTIZE=1"):
        merge.find_quantizer(tmp_path)
    with pytest.raises(merge.MissingTool, match="ollama create m -f"):
        merge.ollama_create("m", tmp_path / "Modelfile")
