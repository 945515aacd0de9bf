"""Quality metrics for commit proposals: one module of pure functions.

Shared by eval runs (score every prediction, then aggregate) and the review
page (score a label against its correction). Everything works on plain dicts:

* a proposal is the label shape ``{"commits": [{"subject", "files", "body",
  "issues"}], "gitignore": [...]}``; ``None`` means the output did not parse
  into a schema-valid proposal;
* an example is the harvested/labeled dict (``changed_files``, ``diff``,
  ``original_commits``, ``existing_gitignore``, ``noise_injected``,
  ``injected_files``, ``languages``).

Grouping is scored over the example's non-junk changed files (the universe U).
Files outside U are ignored by the grouping metrics and counted by the
hallucination and junk metrics instead, so each defect is counted once.
A prediction that did not parse is scored like a proposal that commits
nothing: 0 on grouping, coverage and junk routing, and left out (None) of
the per-commit rates (type accuracy, format, hallucination), which the report
shows with their own n next to the parse rate.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from rapidfuzz.distance import Levenshtein
from scipy.optimize import linear_sum_assignment

# The review page and eval runs must flag the same things: one grammar, one matcher, one set of rules.
from gsctune.domain.checks import CheckConfig, unknown_identifiers
from gsctune.domain.commits import CONVENTIONAL_TYPES, CommitRules, body_text, parse_subject
from gsctune.domain.gitignore import is_ignored
from gsctune.domain.stats import mean_ci

DEFAULT_RULES = CheckConfig()

# name -> (label, higher_is_better). Order is the report's row order.
METRICS: dict[str, tuple[str, bool]] = {
    "parsed": ("Parse rate", True),
    "schema_valid": ("Schema-valid rate", True),
    "exact": ("Exact partition match", True),
    "pair_f1": ("Pairwise F1 (co-committed files)", True),
    "ari": ("Adjusted Rand index", True),
    "jaccard": ("Best-match Jaccard (Hungarian)", True),
    "type_acc": ("Type accuracy (matched commits)", True),
    "subject_sim": ("Subject EditSimilarity", True),
    "human_exact": ("Human: exact partition match", True),
    "human_pair_f1": ("Human: pairwise F1", True),
    "human_ari": ("Human: adjusted Rand index", True),
    "human_jaccard": ("Human: best-match Jaccard", True),
    "human_type_acc": ("Human: type accuracy", True),
    "human_subject_sim": ("Human: subject EditSimilarity", True),
    "hallucination": ("Commits naming unknown identifiers", False),
    "unknown_files": ("Proposal files not in the change", False),
    "junk_routed": ("Junk routed (noise-injected)", True),
    "format_ok": ("Format compliant commits", True),
    "conventional": ("Conventional subject", True),
    "subject_len_ok": ("Subject within the length limit", True),
    "body_ok": ("Body lines within the length limit", True),
    "coverage": ("Files in exactly one commit", True),
    "complete": ("All files covered once", True),
}

DIFF_SIZE_BUCKETS = ((2_000, "< 2k"), (8_000, "2k-8k"), (20_000, "8k-20k"), (None, ">= 20k"))


# --- subjects and format ------------------------------------------------------------

def commit_type(subject: str) -> str | None:
    """The conventional-commit type of a subject, or None if it is not conventional."""
    parts = parse_subject(subject or "")
    if parts and parts["type"] in CONVENTIONAL_TYPES:
        return parts["type"]
    return None


def format_flags(commit: dict, rules: CommitRules = DEFAULT_RULES) -> dict[str, bool]:
    """Conventional subject, subject length and body line length for one commit."""
    subject = str(commit.get("subject") or "")
    return {
        "conventional": commit_type(subject) is not None,
        "subject_len_ok": len(subject) <= rules.max_subject,
        "body_ok": all(len(line) <= rules.max_body_line for line in body_text(commit).splitlines()),
    }


def edit_similarity(a: str, b: str) -> float:
    """1 - character edit distance / longer length (1.0 for two empty strings)."""
    return float(Levenshtein.normalized_similarity(a or "", b or ""))


# --- grouping -----------------------------------------------------------------------

def _labels(commits: list[set], universe: list[str], *, last: bool) -> list[int]:
    """Cluster id per universe file: its commit (first or last listing it), else a fresh singleton."""
    where: dict[str, int] = {}
    for idx, files in enumerate(commits):
        for f in files:
            if last or f not in where:
                where[f] = idx
    fresh = len(commits)
    labels = []
    for f in universe:
        if f in where:
            labels.append(where[f])
        else:
            labels.append(fresh)
            fresh += 1
    return labels


def _pair_counts(pred: list[int], ref: list[int]) -> tuple[int, int, int, int]:
    """(pairs together in both, pairs together in pred, in ref, all pairs)."""
    def pairs(counter: Counter) -> int:
        return sum(v * (v - 1) // 2 for v in counter.values())

    n = len(pred)
    return pairs(Counter(zip(pred, ref))), pairs(Counter(pred)), pairs(Counter(ref)), n * (n - 1) // 2


def pair_f1(pred: list[int], ref: list[int]) -> float:
    """F1 over file pairs placed in the same commit; two all-singleton groupings agree (1.0)."""
    both, a, b, _ = _pair_counts(pred, ref)
    if a == 0 and b == 0:
        return 1.0
    if a == 0 or b == 0:
        return 0.0
    precision, recall = both / a, both / b
    return 0.0 if both == 0 else 2 * precision * recall / (precision + recall)


def adjusted_rand(pred: list[int], ref: list[int]) -> float:
    """Adjusted Rand index (Hubert & Arabie); 1.0 when both groupings are trivially identical."""
    both, a, b, n_pairs = _pair_counts(pred, ref)
    if n_pairs == 0:
        return 1.0
    expected = a * b / n_pairs
    maximum = (a + b) / 2
    if maximum == expected:
        return 1.0
    return (both - expected) / (maximum - expected)


def match_sets(pred_sets: list[set], ref_sets: list[set]) -> tuple[float, list[tuple[int, int, float]]]:
    """Hungarian matching on Jaccard: (sum of matched Jaccard, [(pred i, ref j, jaccard)])."""
    if not pred_sets or not ref_sets:
        return 0.0, []
    jac = np.zeros((len(pred_sets), len(ref_sets)))
    for i, p in enumerate(pred_sets):
        for j, r in enumerate(ref_sets):
            union = len(p | r)
            if union:
                jac[i, j] = len(p & r) / union
    rows, cols = linear_sum_assignment(jac, maximize=True)
    pairs = [(int(i), int(j), float(jac[i, j])) for i, j in zip(rows, cols)]
    return float(sum(p[2] for p in pairs)), pairs


def grouping_scores(pred_commits: list[dict], ref_commits: list[dict], universe: list[str]) -> dict:
    """Exact match, pairwise F1, ARI, best-match Jaccard, type accuracy, subject similarity."""
    uni = set(universe)
    pred = [(c, set(c.get("files") or ()) & uni) for c in pred_commits]
    pred = [(c, s) for c, s in pred if s]
    ref = [(c, set(c.get("files") or ()) & uni) for c in ref_commits]
    ref = [(c, s) for c, s in ref if s]
    if not universe:
        return dict.fromkeys(("exact", "pair_f1", "ari", "jaccard", "type_acc", "subject_sim"))
    pred_sets = [s for _, s in pred]
    ref_sets = [s for _, s in ref]
    if not pred_sets:
        # Committing nothing groups nothing, whatever the reference looks like.
        scores = {"exact": 0.0, "pair_f1": 0.0, "ari": 0.0}
    else:
        pred_labels = _labels(pred_sets, universe, last=False)
        ref_labels = _labels(ref_sets, universe, last=True)
        ref_partition = {}
        for f, lab in zip(universe, ref_labels):
            ref_partition.setdefault(lab, set()).add(f)
        # Reference groups are disjoint and distinct, so equal sizes and equal sets mean the same partition
        # (a file in two predicted commits makes a duplicate or an overlap, and the sets differ).
        exact = (len(pred_sets) == len(ref_partition)
                 and set(map(frozenset, pred_sets)) == set(map(frozenset, ref_partition.values())))
        scores = {
            "exact": float(exact),
            "pair_f1": pair_f1(pred_labels, ref_labels),
            "ari": adjusted_rand(pred_labels, ref_labels),
        }
    total, pairs = match_sets(pred_sets, ref_sets)
    # Unmatched commits on either side count 0, so splitting or merging too much costs.
    scores["jaccard"] = total / max(len(pred_sets), len(ref_sets)) if pred_sets else 0.0
    matched = [(pred[i][0], ref[j][0]) for i, j, jac in pairs if jac > 0]
    typed = [(commit_type(p.get("subject", "")), commit_type(r.get("subject", ""))) for p, r in matched]
    typed = [(pt, rt) for pt, rt in typed if rt is not None]
    scores["type_acc"] = (sum(pt == rt for pt, rt in typed) / len(typed)) if typed else None
    scores["subject_sim"] = (
        sum(edit_similarity(p.get("subject", ""), r.get("subject", "")) for p, r in matched) / len(matched)
        if matched else None)
    return scores


# --- per prediction -----------------------------------------------------------------

def example_universe(example: dict) -> tuple[list[str], set[str], set[str]]:
    """(non-junk changed files sorted, whole change set, junk set) of an example."""
    junk = set(example.get("injected_files") or ())
    change = set(example.get("changed_files") or ()) | junk
    return sorted(change - junk), change, junk


def score_prediction(proposal: dict | None, example: dict, reference: dict | None = None,
                     *, parsed: bool | None = None, rules: CheckConfig = DEFAULT_RULES) -> dict[str, float | None]:
    """Every metric for one prediction; None where a metric does not apply.

    `proposal` is the schema-valid proposal or None; `parsed` says whether any
    JSON object was found (defaults to `proposal is not None`); `reference` is
    the reference label (reviewed/corrected, else teacher) in proposal shape; `rules` are the
    thresholds the label checks use (``gsctune.rules.commit_rules()``).
    """
    valid = proposal is not None
    parsed = valid if parsed is None else (parsed or valid)
    commits = list((proposal or {}).get("commits") or [])
    universe, change, junk = example_universe(example)
    out: dict[str, float | None] = {"parsed": float(parsed), "schema_valid": float(valid)}

    ref_scores = (grouping_scores(commits, reference.get("commits") or [], universe)
                  if reference is not None else {})
    for key in ("exact", "pair_f1", "ari", "jaccard", "type_acc", "subject_sim"):
        out[key] = ref_scores.get(key)
    human = example.get("original_commits")
    human_scores = grouping_scores(commits, human, universe) if human else {}
    for key in ("exact", "pair_f1", "ari", "jaccard", "type_acc", "subject_sim"):
        out["human_" + key] = human_scores.get(key)

    diff = example.get("diff") or ""
    if commits:
        flagged = sum(
            bool(unknown_identifiers(f"{c.get('subject') or ''}\n{body_text(c)}", diff,
                                     rules.fuzzy_cutoff, rules.ignored_words))
            for c in commits)
        out["hallucination"] = flagged / len(commits)
        flags = [format_flags(c, rules) for c in commits]
        for key in ("conventional", "subject_len_ok", "body_ok"):
            out[key] = sum(f[key] for f in flags) / len(flags)
        out["format_ok"] = sum(all(f.values()) for f in flags) / len(flags)
    else:
        out.update(dict.fromkeys(("hallucination", "conventional", "subject_len_ok", "body_ok",
                                  "format_ok")))
    named = {f for c in commits for f in (c.get("files") or ())}
    out["unknown_files"] = (len(named - change) / len(named)) if named else None

    counts: dict[str, int] = {}
    for c in commits:
        for f in set(c.get("files") or ()):
            counts[f] = counts.get(f, 0) + 1
    if universe:
        once = sum(counts.get(f) == 1 for f in universe) / len(universe)
        out["coverage"] = once
        out["complete"] = float(once == 1.0)
    else:
        out["coverage"] = out["complete"] = None

    if junk:
        if not valid:
            out["junk_routed"] = 0.0
        else:
            patterns = list(example.get("existing_gitignore") or []) + list(proposal.get("gitignore") or [])
            routed = sum(f not in counts and is_ignored(f, patterns) for f in junk)
            out["junk_routed"] = routed / len(junk)
    else:
        out["junk_routed"] = None
    return out


# --- aggregation --------------------------------------------------------------------

def diff_size_bucket(diff: str | int) -> str:
    """Report bucket for a diff's size in characters."""
    size = diff if isinstance(diff, int) else len(diff or "")
    for limit, name in DIFF_SIZE_BUCKETS:
        if limit is None or size < limit:
            return name
    return DIFF_SIZE_BUCKETS[-1][1]


def aggregate(rows: list[dict], *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Mean, bootstrap interval and n of every metric over per-prediction rows (None skipped)."""
    return {name: mean_ci([r.get(name) for r in rows], n_boot=n_boot, seed=seed, level=level)
            for name in METRICS}


def breakdown(rows: list[dict], keys: list[list[str]], **kwargs) -> dict[str, dict]:
    """Aggregate rows per group; `keys[i]` lists the groups row i belongs to (e.g. its languages)."""
    groups: dict[str, list[dict]] = {}
    for row, names in zip(rows, keys):
        for name in names:
            groups.setdefault(name, []).append(row)
    return {name: aggregate(groups[name], **kwargs) for name in sorted(groups)}
