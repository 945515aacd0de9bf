"""Plain-torch fallback for TRL's fused LM head, so SFTTrainer trains on a CPU.

TRL 1.15 computes the SFT loss through ``_ChunkedLogProbFunction``, a Triton
kernel; on a host without Triton (CPU torch wheels) it is ``None`` and every
step fails, and with Triton but no GPU the kernel has no driver. Unsloth pins
``trl<=1.15.0``, so we keep that version and supply the same outputs with plain
torch ops on CPU tensors (the GPU path is left untouched).
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


class _Dispatch:
    """Stands in for the autograd Function: Triton on CUDA tensors when available, torch elsewhere."""

    def __init__(self, original):
        self.original = original

    def apply(self, hidden, *args):
        if hidden.is_cuda and self.original is not None:
            return self.original.apply(hidden, *args)
        return _torch_logprob(hidden, *args)


def ensure_cpu_fused_lm_head() -> None:
    """Install the dispatcher once; harmless to call again."""
    from trl.trainer import utils

    current = getattr(utils, "_ChunkedLogProbFunction", None)
    if not isinstance(current, _Dispatch):
        utils._ChunkedLogProbFunction = _Dispatch(current)
