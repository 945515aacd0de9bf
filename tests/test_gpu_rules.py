"""What must fail loudly on a GPU host instead of silently costing memory: no Triton kernel, no bitsandbytes.

This host has neither triton nor bitsandbytes (CPU torch), so the CUDA branch of each rule is exercised with
``cuda=True``; the tests skip where a package is present.
"""

from __future__ import annotations

import importlib.util

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
