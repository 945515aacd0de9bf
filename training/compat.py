"""Plain-torch fallback for TRL's fused LM head, so SFTTrainer trains on a CPU.

TRL 1.15 computes the SFT loss through ``_ChunkedLogProbFunction``, a Triton
kernel; on a host without Triton (CPU torch wheels) it is ``None`` and every
step fails, and with Triton but no GPU the kernel has no driver. Unsloth pins
``trl<=1.15.0``, so we keep that version and supply the same outputs with plain
torch ops on CPU tensors. On a GPU the fallback would hold the full logits in
fp32 (about 20 GB per copy at 4 x 8192 x 151,936), so there a missing kernel is
an error, never a silent fallback.
"""

from __future__ import annotations


def _torch_logprob(hidden, weight, bias, targets, temperature, chunk_size, softcap=None, logit_scale=1.0,
                   outputs=("entropy", "log_sum_sq_probs", "mean_logits", "is_top1")):
    import torch

    z = hidden @ weight.t().to(hidden.dtype)
    if bias is not None:
        z = z + bias.to(z.dtype)
    z = z.float() * logit_scale
    if softcap:
        z = softcap * torch.tanh(z / softcap)
    z = z / temperature
    logp_all = torch.log_softmax(z, dim=-1)
    log_probs = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = log_sum_sq = mean_logits = is_top1 = None
    if "entropy" in outputs:
        entropy = -(logp_all.exp() * logp_all).sum(-1)
    with torch.no_grad():
        if "log_sum_sq_probs" in outputs:
            log_sum_sq = torch.logsumexp(2 * logp_all, dim=-1)
        if "mean_logits" in outputs:
            mean_logits = z.mean(-1)
        if "is_top1" in outputs:
            is_top1 = z.argmax(-1) == targets
    return log_probs, entropy, log_sum_sq, mean_logits, is_top1


NO_KERNEL = ("TRL's Triton loss kernel is not available ({why}): on a GPU the plain-torch fallback would hold "
             "the full logits in fp32. Install triton matching the CUDA torch (make install-gpu) and check "
             "`python -c 'import triton'`.")


class KernelMissing(RuntimeError):
    """A GPU run without TRL's Triton kernel; the message says what to install."""


class _Dispatch:
    """Stands in for the autograd Function: Triton on GPU tensors, torch on CPU tensors."""

    def __init__(self, original):
        self.original = original

    def apply(self, hidden, *args):
        if hidden.device.type == "cpu":
            return _torch_logprob(hidden, *args)
        if self.original is None:
            raise KernelMissing(NO_KERNEL.format(why="trl.kernels failed to import"))
        return self.original.apply(hidden, *args)


def check_kernel(cuda: bool) -> None:
    """Before loading a model: on CUDA, Triton must be importable (without importing trl before unsloth)."""
    import importlib.util

    if cuda and importlib.util.find_spec("triton") is None:
        raise KernelMissing(NO_KERNEL.format(why="triton is not installed"))


def ensure_cpu_fused_lm_head(cuda: bool | None = None) -> None:
    """Install the dispatcher once (harmless to call again); on CUDA, raise when the kernel is missing."""
    from trl.trainer import utils

    current = getattr(utils, "_ChunkedLogProbFunction", None)
    original = current.original if isinstance(current, _Dispatch) else current
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    if cuda and original is None:
        raise KernelMissing(NO_KERNEL.format(why="trl.kernels failed to import; is triton installed?"))
    if not isinstance(current, _Dispatch):
        utils._ChunkedLogProbFunction = _Dispatch(current)
