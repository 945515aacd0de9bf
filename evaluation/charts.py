"""Geometry for server-rendered inline SVG charts (no JavaScript, no CDN).

The templates draw what these functions compute; every text goes through the
template's autoescaping.
"""
from __future__ import annotations

from gsctune.charts import nice_ticks

PALETTE = ("#4f6bd8", "#d9822b", "#2e9e6a", "#b8466e", "#7c5cc4", "#8a8f2a", "#3a9bb8", "#a0522d")


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
