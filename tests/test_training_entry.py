"""The training entry module and the merge/GGUF path, run for real on tiny models on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_training import llama_cpp_dir, quick_options, shared_tiny_setup
from training import merge
from training.entry import METRIC_PREFIX

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return shared_tiny_setup(tmp_path_factory.getbasetemp())


def train(tmp: Path, base: Path, export: Path, **extra) -> tuple[subprocess.CompletedProcess, list[dict]]:
    cfg = {"base_model": str(base), "data_dir": str(export), "output_dir": str(tmp / "out"), "backend": "trl",
           **quick_options(**extra)}
    (tmp / "cfg.json").write_text(json.dumps(cfg))
    proc = subprocess.run([sys.executable, "-m", "training.entry", "--config", str(tmp / "cfg.json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    metrics = [json.loads(line[len(METRIC_PREFIX):]) for line in proc.stdout.splitlines()
               if line.startswith(METRIC_PREFIX)]
    return proc, metrics


def lora_b_norm(adapter_dir: Path) -> float:
    from safetensors.torch import load_file

    tensors = load_file(adapter_dir / "adapter_model.safetensors")
    return sum(float(t.abs().sum()) for name, t in tensors.items() if "lora_B" in name)


@pytest.mark.parametrize("kind", ["dense", "moe"])
def test_trl_backend_trains_saves_reloads_and_merges(tiny, tmp_path, kind):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    proc, metrics = train(tmp_path, tiny[kind], tiny["export"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    steps = [m for m in metrics if m["event"] == "train"]
    assert [m["step"] for m in steps] == [1, 2, 3]
    assert all(m["loss"] > 0 and "learning_rate" in m and "grad_norm" in m for m in steps)
    assert any(m.get("tokens_per_s", 0) > 0 for m in steps)
    assert [m["event"] for m in metrics if m["event"] == "eval"] and metrics[-1]["event"] == "done"
    out = tmp_path / "out"
    resolved = json.loads((out / "resolved_config.json").read_text())
    assert resolved["lora_r"] == 8 and resolved["device"] == "cpu"
    if kind == "moe":
        assert any("target_parameters" in n for n in resolved["notes"])  # LoRA on the fused experts
    assert (out / "metrics.jsonl").read_text().count("\n") == len(metrics)

    adapter = out / "adapter"
    assert lora_b_norm(adapter) > 0  # LoRA B starts at zero: training changed the adapter
    if kind == "moe":
        from safetensors.torch import load_file

        assert any("experts" in name for name in load_file(adapter / "adapter_model.safetensors"))

    base = AutoModelForCausalLM.from_pretrained(tiny[kind])
    model = PeftModel.from_pretrained(base, adapter)
    tok = AutoTokenizer.from_pretrained(adapter)
    prompt = tok.apply_chat_template([{"role": "user", "content": "Changed files:\na.py"}],
                                     add_generation_prompt=True, return_tensors="pt", return_dict=True)
    generated = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    assert generated.shape[1] > prompt["input_ids"].shape[1]
    with torch.no_grad():
        adapter_logits = model(**prompt).logits

    merged_dir = merge.merge_adapter(adapter, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    with torch.no_grad():
        assert torch.allclose(merged(**prompt).logits, adapter_logits, atol=1e-4)
    assert (merged_dir / merge.TINY_MARKER).exists()


def test_bad_base_model_fails_with_a_clear_message(tiny, tmp_path):
    proc, _ = train(tmp_path, tmp_path / "no-such-model", tiny["export"])
    assert proc.returncode != 0
    assert "GSCTUNE_ERROR" in proc.stdout and "Base model folder not found" in proc.stdout


def test_unknown_option_is_named(tiny, tmp_path):
    proc, _ = train(tmp_path, tiny["dense"], tiny["export"], lora_rank=4)
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


def test_gguf_export_and_modelfile(tiny, tmp_path):
    llama = llama_cpp_dir()
    if llama is None:
        pytest.skip("llama.cpp converter not found: run scripts/get_llama_cpp.sh (or set LLAMA_CPP_DIR)")
    proc, _ = train(tmp_path, tiny["dense"], tiny["export"], max_steps=1)
    assert proc.returncode == 0, proc.stdout[-2000:]
    result = merge.export_model(tmp_path / "out" / "adapter", tmp_path / "export", quant="Q8_0", llama_dir=llama,
                                ollama_name="gsctune-test", log=lambda _msg: None)
    gguf_file = Path(result["gguf"])
    sys.path.insert(0, str(llama / "gguf-py"))
    try:
        from gguf import GGUFReader
    finally:
        sys.path.remove(str(llama / "gguf-py"))
    reader = GGUFReader(str(gguf_file))
    arch = reader.fields["general.architecture"]
    assert bytes(arch.parts[arch.data[0]]).decode() == "qwen3"
    assert len(reader.tensors) > 10
    modelfile = Path(result["modelfile"]).read_text()
    assert "PARAMETER temperature 0.2" in modelfile and "FROM ./model-" in modelfile and "SYSTEM " in modelfile
    try:
        merge.find_quantizer(llama)
    except merge.MissingTool:
        assert result["quantized"] is None and any("llama-quantize" in m for m in result["missing"])
    else:
        assert Path(result["quantized"]).stat().st_size > 0
    if not __import__("shutil").which("ollama"):
        assert any("ollama is not on PATH" in m for m in result["missing"])


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
