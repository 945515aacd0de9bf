"""Small statistics helpers for eval reports and blind comparisons.

Pure functions on plain Python/numpy values, seeded so that a report renders
the same intervals every time it is opened.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

DEFAULT_BOOT = 1000


def mean_ci(values: Sequence[float], *, n_boot: int = DEFAULT_BOOT, seed: int = 0,
            level: float = 0.95) -> dict:
    """Mean with a percentile-bootstrap interval; n=0 gives None everywhere."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    n = len(arr)
    if n == 0:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    mean = float(arr.mean())
    if n == 1 or np.all(arr == arr[0]):
        return {"mean": mean, "lo": mean, "hi": mean, "n": n}
    rng = np.random.default_rng(seed)
    uniq, counts = np.unique(arr, return_counts=True)
    if len(uniq) <= 64:
        # Few distinct values (rates, 0/1 flags): resampling n values is drawing how many
        # of each value come back, a multinomial - same distribution, O(n_boot * k).
        means = rng.multinomial(n, counts / n, size=n_boot) @ uniq / n
    else:
        # Resample in chunks so 1000 x 100k values never needs a huge index matrix.
        means = np.empty(n_boot)
        chunk = max(1, 2_000_000 // n)
        for start in range(0, n_boot, chunk):
            stop = min(n_boot, start + chunk)
            idx = rng.integers(0, n, size=(stop - start, n))
            means[start:stop] = arr[idx].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return {"mean": mean, "lo": float(lo), "hi": float(hi), "n": n}


def wilson(successes: float, n: int, *, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a proportion (successes may be fractional for ties)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


# A pairwise outcome is (a, b, score) where score is 1.0 if a won, 0.0 if b won
# and 0.5 for a tie.
Outcome = tuple[str, str, float]


def win_rates(outcomes: Iterable[Outcome]) -> list[dict]:
    """Per ordered pair (a, b): wins, ties, losses and a's win rate (ties half) with Wilson CI."""
    table: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0])
    for a, b, score in outcomes:
        for x, y, s in ((a, b, score), (b, a, 1.0 - score)):
            cell = table[(x, y)]
            cell[0 if s == 1.0 else 2 if s == 0.0 else 1] += 1
    rows = []
    for (a, b), (w, t, lost) in sorted(table.items()):
        n = w + t + lost
        rate = (w + 0.5 * t) / n
        lo, hi = wilson(w + 0.5 * t, n)
        rows.append({"a": a, "b": b, "wins": w, "ties": t, "losses": lost, "n": n,
                     "rate": rate, "lo": lo, "hi": hi})
    return rows


def _bt_fit(systems: list[str], wins: np.ndarray, games: np.ndarray,
            prior: float, iters: int = 500, tol: float = 1e-9) -> np.ndarray:
    """MM algorithm (Hunter 2004) for Bradley-Terry strengths; returns centred log-strengths.

    `wins[i, j]` is i's score against j (ties already split half/half), `games`
    the symmetric count. `prior` adds that many virtual ties between every pair
    so a system that never won still gets a finite strength.
    """
    k = len(systems)
    w = wins + prior / 2 * (1 - np.eye(k))
    g = games + prior * (1 - np.eye(k))
    total_wins = w.sum(axis=1)
    p = np.ones(k)
    for _ in range(iters):
        denom = (g / (p[:, None] + p[None, :])).sum(axis=1)
        new = np.where(denom > 0, total_wins / np.where(denom > 0, denom, 1), p)
        new = np.maximum(new, 1e-12)
        new /= np.exp(np.log(new).mean())
        if np.max(np.abs(new - p)) < tol:
            p = new
            break
        p = new
    logp = np.log(p)
    return logp - logp.mean()


def _tally(systems: list[str], outcomes: Sequence[Outcome]) -> tuple[np.ndarray, np.ndarray]:
    index = {s: i for i, s in enumerate(systems)}
    k = len(systems)
    wins = np.zeros((k, k))
    games = np.zeros((k, k))
    for a, b, score in outcomes:
        i, j = index[a], index[b]
        wins[i, j] += score
        wins[j, i] += 1.0 - score
        games[i, j] += 1
        games[j, i] += 1
    return wins, games


def bradley_terry(outcomes: Sequence[Outcome], systems: Sequence[str] | None = None, *,
                  n_boot: int = DEFAULT_BOOT, seed: int = 0, level: float = 0.95,
                  prior: float = 0.1) -> list[dict]:
    """Bradley-Terry ranking with bootstrap intervals over votes (ties count half).

    Returns rows sorted best first: system, strength (centred log-strength),
    lo/hi interval, p_vs_avg (chance of beating an average system), games.
    """
    outcomes = list(outcomes)
    if systems is None:
        systems = sorted({s for a, b, _ in outcomes for s in (a, b)})
    systems = list(systems)
    if not systems:
        return []
    wins, games = _tally(systems, outcomes)
    theta = _bt_fit(systems, wins, games, prior)
    lo = hi = theta
    if outcomes and n_boot > 0:
        rng = np.random.default_rng(seed)
        index = {s: i for i, s in enumerate(systems)}
        ai = np.array([index[a] for a, _, _ in outcomes])
        bi = np.array([index[b] for _, b, _ in outcomes])
        sc = np.array([s for _, _, s in outcomes], dtype=float)
        k = len(systems)
        boots = np.empty((n_boot, k))
        for r in range(n_boot):
            pick = rng.integers(0, len(outcomes), size=len(outcomes))
            w = np.zeros((k, k))
            g = np.zeros((k, k))
            np.add.at(w, (ai[pick], bi[pick]), sc[pick])
            np.add.at(w, (bi[pick], ai[pick]), 1.0 - sc[pick])
            np.add.at(g, (ai[pick], bi[pick]), 1)
            np.add.at(g, (bi[pick], ai[pick]), 1)
            boots[r] = _bt_fit(systems, w, g, prior, iters=200, tol=1e-6)
        alpha = (1 - level) / 2
        lo, hi = np.quantile(boots, [alpha, 1 - alpha], axis=0)
    rows = []
    for i, s in enumerate(systems):
        rows.append({
            "system": s,
            "strength": float(theta[i]),
            "lo": float(lo[i]),
            "hi": float(hi[i]),
            "p_vs_avg": float(1 / (1 + math.exp(-theta[i]))),
            "games": int(games[i].sum()),
        })
    rows.sort(key=lambda r: (-r["strength"], r["system"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows
