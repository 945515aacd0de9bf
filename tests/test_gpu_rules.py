"""What must fail loudly on a GPU host instead of silently costing memory: no Triton kernel, no bitsandbytes.

This host has neither triton nor bitsandbytes (CPU torch), so the CUDA branch of each rule is exercised with
``cuda=True``; the tests skip where a package is present.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from training.compat import KernelMissing, _Dispatch, check_kernel, ensure_cpu_fused_lm_head
from training.entry import resolve_optimizer

no_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is not None, reason="triton is installed here")
no_bnb = pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed")


@no_bnb
def test_8bit_optimizer_without_bitsandbytes_is_an_error_on_cuda():
    with pytest.raises(RuntimeError, match="adamw_8bit needs bitsandbytes.*make install-gpu"):
        resolve_optimizer("adamw_8bit", cuda=True)


def test_8bit_optimizer_on_cpu_falls_back_with_a_note():
    assert resolve_optimizer("adamw_8bit", cuda=False) == (
        "adamw_torch", "adamw_8bit needs a CUDA GPU: using adamw_torch on this CPU host")
    assert resolve_optimizer("adamw_torch", cuda=True) == ("adamw_torch", None)


@no_triton
def test_missing_triton_kernel_is_an_error_on_cuda_before_and_after_loading():
    with pytest.raises(KernelMissing, match="triton is not installed.*full logits in fp32"):
        check_kernel(cuda=True)
    check_kernel(cuda=False)
    with pytest.raises(KernelMissing, match="trl.kernels failed to import"):
        ensure_cpu_fused_lm_head(cuda=True)


def test_dispatch_uses_torch_on_cpu_and_refuses_other_devices_without_the_kernel():
    import torch

    dispatch = _Dispatch(None)
    hidden, weight, targets = torch.randn(3, 4), torch.randn(5, 4), torch.tensor([0, 1, 4])
    log_probs = dispatch.apply(hidden, weight, None, targets, 1.0, 4096)[0]
    assert torch.allclose(log_probs, torch.log_softmax(hidden @ weight.t(), -1)[torch.arange(3), targets])
    with pytest.raises(KernelMissing):  # a non-CPU tensor never takes the full-logits path
        dispatch.apply(hidden.to("meta"), weight, None, targets, 1.0, 4096)


ROOT = Path(__file__).resolve().parents[1]


def make_dry_run(*args: str) -> str:
    proc = subprocess.run(["make", "-n", *args, "VENV=/nonexistent-venv"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_make_install_gpu_uses_the_cuda_install_and_plain_install_does_not():
    gpu = make_dry_run("install-gpu", "CUDA=126")
    assert "CUDA=126 bash scripts/install_gpu.sh /nonexistent-venv" in gpu
    assert "CUDA=130 bash scripts/install_gpu.sh" in make_dry_run("install", "GPU=1")
    cpu = make_dry_run("install", "GPU=0")
    assert "install_gpu.sh" not in cpu and "pip install -q torch==2.13.0" in cpu
    script = (ROOT / "scripts" / "install_gpu.sh").read_text()
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / "install_gpu.sh")]).returncode == 0
    # torch from the CUDA index first, every later install held to that torch, then the checks.
    assert script.index('--index-url "$INDEX"') < script.index('-c "$PIN" -r requirements.txt')
    assert "torch.cuda.is_available()" in script and 'bitsandbytes==$BITSANDBYTES' in script


@pytest.mark.slow
def test_gpu_smoke_script_runs_on_the_cpu_and_prints_its_table():
    proc = subprocess.run(["bash", "bench/gpu_smoke.sh"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = proc.stdout[proc.stdout.index("| part"):]
    assert "| GPU " in table and "no CUDA device" in table and "| FAIL" not in table
    for part in ("assistant mask in training", "dense tiny trl loss", "moe 2-layer trl", "Modelfile"):
        assert f"| {part} " in table
