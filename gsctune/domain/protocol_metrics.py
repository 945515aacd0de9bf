"""Scores of protocol episodes: how the candidate played the loop, and how good its commits are.

Per episode (``score_episode``) a flat row of numbers; over a run (``aggregate``) the
mean of each with a 95 % interval (Wilson for the finalized rate, percentile bootstrap
for the rest). Grouping is scored over hunks with the file-level metrics' own
functions, hunk ids standing in for file names: pairwise F1 over co-committed pairs,
ARI, Hungarian best-match Jaccard, exact partition, type accuracy and subject
EditSimilarity, plus commit-order agreement (Kendall's tau over the matched commits).
Two references: a hunk-level label (a file-level one is converted), and the original
human commits, where a hunk belongs to the last original commit that touched its file.
An episode that did not finalize commits nothing the user would get, so it is scored
like an empty proposal (0 on grouping, junk routing; per-commit rates left out).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from statistics import NormalDist

from gsctune.domain.checks import unknown_identifiers
from gsctune.domain.hunks import Hunk, hunk_label
from gsctune.domain.metrics import grouping_scores, match_sets
from gsctune.domain.protocol_eval import EpisodeResult
from gsctune.domain.stats import mean_ci, wilson

_GROUPING = ("exact", "pair_f1", "ari", "jaccard", "order_tau", "type_acc", "subject_sim")

# name -> (label, higher is better), in report order.
METRICS: dict[str, tuple[str, bool]] = {
    "finalized": ("Finalized validly", True),
    "turns": ("Turns used", False),
    "no_tool_share": ("Share of responses without a tool call", False),
    "malformed": ("Malformed arguments", False),
    "unknown_id": ("Unknown hunk-id errors", False),
    "duplicate_id": ("Duplicate hunk-id errors", False),
    "finalize_rejected": ("Finalize rejections", False),
    "unassigned": ("Hunks left unassigned", False),
    "investigation": ("Investigation calls", False),
    "exact": ("Exact partition (hunks)", True),
    "pair_f1": ("Pairwise F1 (co-committed hunks)", True),
    "ari": ("Adjusted Rand index (hunks)", True),
    "jaccard": ("Best-match Jaccard (hunks)", True),
    "order_tau": ("Commit order (Kendall's tau)", True),
    "type_acc": ("Type accuracy", True),
    "subject_sim": ("Subject EditSimilarity", True),
    "human_exact": ("Human: exact partition", True),
    "human_pair_f1": ("Human: pairwise F1", True),
    "human_ari": ("Human: adjusted Rand index", True),
    "human_jaccard": ("Human: best-match Jaccard", True),
    "human_order_tau": ("Human: commit order (Kendall's tau)", True),
    "human_type_acc": ("Human: type accuracy", True),
    "human_subject_sim": ("Human: subject EditSimilarity", True),
    "hallucination": ("Commits naming unknown identifiers", False),
    "junk_routed": ("Junk hunks skipped", True),
}


def kendall_tau(pairs: Sequence[tuple[int, int]]) -> float | None:
    """Kendall's tau between two orders of the same items, given as (position in one,
    position in the other); None under two items. Positions are distinct, so tau-a."""
    n = len(pairs)
    if n < 2:
        return None
    score = 0
    for i in range(n):
        for j in range(i + 1, n):
            a = pairs[i][0] - pairs[j][0]
            b = pairs[i][1] - pairs[j][1]
            score += 1 if a * b > 0 else -1
    return score / (n * (n - 1) / 2)


def _as_files(commits: Iterable[dict]) -> list[dict]:
    """Commits with their hunk ids under ``files``: the file-level metrics' shape."""
    return [{**c, "files": list(c.get("hunks") or ())} for c in commits]


def grouping(pred: Sequence[dict], ref: Sequence[dict], universe: Sequence[str]) -> dict[str, float | None]:
    """The file-level grouping scores over hunk ids, and Kendall's tau over matched commits."""
    pred_files, ref_files = _as_files(pred), _as_files(ref)
    scores = grouping_scores(pred_files, ref_files, list(universe))
    uni = set(universe)
    pred_sets = [s for s in (set(c["files"]) & uni for c in pred_files) if s]
    ref_sets = [s for s in (set(c["files"]) & uni for c in ref_files) if s]
    _, pairs = match_sets(pred_sets, ref_sets)
    scores["order_tau"] = kendall_tau([(i, j) for i, j, jac in pairs if jac > 0]) if universe else None
    return scores


def human_commits(original_commits: Sequence[dict], hunks: Sequence[Hunk]) -> list[dict]:
    """The original commits at hunk level: each hunk goes to the last commit (oldest first
    in ``original_commits``) that touched its file; commits left without hunks drop out."""
    last: dict[str, int] = {}
    for index, commit in enumerate(original_commits):
        for path in commit.get("files") or ():
            last[path] = index
    owned: dict[int, list[str]] = {}
    for hunk in hunks:
        index = max((last[p] for p in {hunk.file, hunk.path} if p in last), default=None)
        if index is not None:
            owned.setdefault(index, []).append(hunk.id)
    return [{**original_commits[i], "hunks": owned[i]} for i in sorted(owned)]


def reference_commits(label: dict, hunks: Sequence[Hunk]) -> list[dict]:
    """A reference label's commits at hunk level (a file-level label is converted)."""
    if any("hunks" not in c for c in label.get("commits") or ()):
        label = hunk_label(label, hunks)
    return list(label.get("commits") or ())


def _hallucination(commits: Sequence[dict], diff: str) -> float:
    flagged = sum(bool(unknown_identifiers(f"{c.get('subject') or ''}\n{c.get('body') or ''}", diff))
                  for c in commits)
    return flagged / len(commits)


def protocol_scores(result: EpisodeResult) -> dict[str, float | None]:
    """How the candidate played: the loop's counters, one row."""
    c = result.counters
    turns = c["turns_used"]
    return {
        "finalized": float(result.finalized),
        "turns": float(turns),
        "no_tool_share": c["no_tool_call"] / turns if turns else None,
        "malformed": float(c["malformed_arguments"]),
        "unknown_id": float(c["unknown_id"]),
        "duplicate_id": float(c["duplicate_id"]),
        "finalize_rejected": float(c["finalize_rejected"]),
        "unassigned": float(c["unassigned"]),
        "investigation": float(c["investigation"]),
    }


def score_episode(result: EpisodeResult, hunks: Sequence[Hunk], *, reference: dict | None = None,
                  original_commits: Sequence[dict] | None = None, junk_files: Iterable[str] = (),
                  diff: str | None = None) -> dict[str, float | None]:
    """Every metric of one episode; None where one does not apply.

    ``junk_files`` (noise injected into the example) are left out of the grouping
    universe and scored by junk routing: the share of their hunks finalized as skipped.
    With the example's ``diff``, hallucination is the share of final commits whose
    subject or body names an identifier the diff does not have (the review checks' rule).
    """
    junk_set = set(junk_files)
    junk = {h.id for h in hunks if h.file in junk_set or h.path in junk_set}
    universe = sorted(h.id for h in hunks if h.id not in junk)
    pred = result.commits if result.finalized else []
    row = protocol_scores(result)
    ref = grouping(pred, reference_commits(reference, hunks), universe) if reference is not None else {}
    human = grouping(pred, human_commits(original_commits, hunks), universe) if original_commits else {}
    for key in _GROUPING:
        row[key] = ref.get(key)
        row["human_" + key] = human.get(key)
    row["hallucination"] = _hallucination(pred, diff) if pred and diff is not None else None
    if junk:
        committed = {h for c in pred for h in c.get("hunks") or ()}
        skipped = set(result.skipped_hunks) if result.finalized else set()
        row["junk_routed"] = sum(h in skipped and h not in committed for h in junk) / len(junk)
    else:
        row["junk_routed"] = None
    return row


def aggregate(rows: Sequence[dict], *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Mean, 95 % interval and n of every metric (None values skipped): Wilson for the
    finalized rate, percentile bootstrap for the others."""
    out = {name: mean_ci([r.get(name) for r in rows], n_boot=n_boot, seed=seed, level=level) for name in METRICS}
    done = [r["finalized"] for r in rows if r.get("finalized") is not None]
    if done:
        lo, hi = wilson(sum(done), len(done), z=NormalDist().inv_cdf((1 + level) / 2))
        out["finalized"] = {"mean": sum(done) / len(done), "lo": lo, "hi": hi, "n": len(done)}
    return out
