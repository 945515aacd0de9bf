"""Axis ticks shared by the server-drawn SVG charts (eval intervals, training curves)."""
from __future__ import annotations

import math


def nice_ticks(lo: float, hi: float, count: int = 5) -> tuple[float, float, list[tuple[float, str]]]:
    """Round tick values covering [lo, hi], each label distinct, and the axis range they span.

    Steps are 1, 2, 2.5 or 5 times a power of ten, and labels carry as many decimals as the
    step needs: a narrow range (losses 1.2341–1.2349) gets 1.2340, 1.2342 … rather than five
    times "1.23". Returns (axis_lo, axis_hi, [(value, label), ...]).
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("tick range must be finite")
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo < 1e-12:
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if abs(round(step, decimals) - step) > step * 1e-6:  # 2.5 x 10^k needs one digit more
        decimals += 1
    ticks = [(round(i * step, decimals + 3), f"{i * step:.{decimals}f}") for i in range(first, last + 1)]
    return min(ticks[0][0], lo), max(ticks[-1][0], hi), ticks
