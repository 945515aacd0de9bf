"""Geometry of the server-drawn inline SVG charts (no JavaScript, no CDN): eval intervals,
run comparisons and training curves, with one palette and one tick rule.

The templates draw what these functions compute; every text goes through the
template's autoescaping.
"""
from __future__ import annotations

import math

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d")
MAX_LINE_POINTS = 400


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


def thin(points: list[tuple]) -> list[tuple]:
    """Keep a long run's page light: every k-th point (and the last one)."""
    if len(points) <= MAX_LINE_POINTS:
        return points
    stride = -(-len(points) // MAX_LINE_POINTS)
    return points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])


def line_chart(series: list[dict], width: int = 640, height: int = 240, pad: int = 36) -> dict:
    """Curves as SVG polyline coordinates; each series has ``points`` [(x, y)], ``color`` and its labels."""
    values = [v for s in series for _, v in s["points"]]
    steps = [x for s in series for x, _ in s["points"]]
    if not values:
        return {"empty": True, "width": width, "height": height}
    lo, hi, y_ticks = nice_ticks(min(values), max(values))
    x0, x1 = min(steps), max(max(steps), min(steps) + 1)

    def xy(step, value):
        x = pad + (step - x0) / (x1 - x0) * (width - 2 * pad)
        y = height - pad - (value - lo) / (hi - lo) * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    for s in series:
        s["polyline"] = " ".join(xy(st, v) for st, v in s["points"])
        s["dots"] = [xy(st, v).split(",") for st, v in s["points"]] if len(s["points"]) < 60 else []
    ticks = [{"y": f"{height - pad - (v - lo) / (hi - lo) * (height - 2 * pad):.1f}", "label": label}
             for v, label in y_ticks]
    return {"empty": False, "width": width, "height": height, "pad": pad, "series": series, "ticks": ticks,
            "x_first": x0, "x_last": x1, "x_axis_y": height - pad, "x_right": width - pad}


def interval_chart(rows: list[dict], *, width: int = 560, label_w: int = 240, row_h: int = 22) -> dict:
    """Horizontal bars on a 0..1 scale with 95% interval whiskers; rows need label, mean, lo, hi."""
    rows = [r for r in rows if r.get("mean") is not None]
    plot = width - label_w - 50
    bars = []
    for i, r in enumerate(rows):
        y = 18 + i * row_h
        bars.append({
            "label": r["label"], "y": y, "ty": y + row_h * 0.62, "h": row_h - 8,
            "w": round(plot * max(0.0, min(1.0, r["mean"])), 1),
            "lo": round(label_w + plot * max(0.0, min(1.0, r["lo"])), 1),
            "hi": round(label_w + plot * max(0.0, min(1.0, r["hi"])), 1),
            "my": y + (row_h - 8) / 2, "wy0": y, "wy1": y + row_h - 8, "value": r["mean"], "vx": width - 44,
            "good": r.get("higher_is_better", True),
        })
    height = 26 + len(rows) * row_h
    ticks = [{"x": round(label_w + plot * t, 1), "t": label} for t, label in nice_ticks(0.0, 1.0)[2]]
    return {"width": width, "height": height, "label_w": label_w, "lx": label_w - 6, "bars": bars, "ticks": ticks,
            "axis_y": height - 4}


def grouped_chart(metric_rows: list[dict], run_names: list[str], *, width: int = 720, label_w: int = 240,
                  bar_h: int = 9) -> dict:
    """One group of bars per metric, one bar per run, with whiskers; metric_rows from compare_runs."""
    plot = width - label_w - 20
    groups, y = [], 10
    for row in metric_rows:
        cells = row["cells"]
        if all(c.get("mean") is None for c in cells):
            continue
        bars = []
        for j, c in enumerate(cells):
            by = y + j * (bar_h + 2)
            if c.get("mean") is None:
                continue
            bars.append({
                "y": by, "w": round(plot * max(0.0, min(1.0, c["mean"])), 1), "h": bar_h,
                "lo": round(label_w + plot * max(0.0, min(1.0, c.get("lo") if c.get("lo") is not None else c["mean"])), 1),
                "hi": round(label_w + plot * max(0.0, min(1.0, c.get("hi") if c.get("hi") is not None else c["mean"])), 1),
                "my": by + bar_h / 2, "wy0": by, "wy1": by + bar_h, "color": PALETTE[j % len(PALETTE)], "name": run_names[j], "value": c["mean"],
            })
        span = len(cells) * (bar_h + 2)
        groups.append({"label": row["label"], "ty": y + span / 2 + 4, "bars": bars})
        y += span + 10
    legend = [{"name": n, "color": PALETTE[j % len(PALETTE)], "x": label_w + j * 150} for j, n in enumerate(run_names)]
    return {"width": width, "height": y + 24, "label_w": label_w, "lx": label_w - 6, "groups": groups, "legend": legend,
            "legend_y": y + 8}
