"""Eval metrics and statistics on hand-computed cases."""
import math

import pytest

from gsctune.domain import metrics, stats
from gsctune.domain.metrics import adjusted_rand, grouping_scores, pair_f1, score_prediction

DIFF = """diff --git a/src/client.py b/src/client.py
+class HttpClient:
+    def send_request(self, timeout):
+        pass
diff --git a/README.md b/README.md
+Mention the new timeout option.
"""


def commit(subject, files, body=""):
    return {"subject": subject, "files": files, "body": body, "issues": []}


def example(changed, originals=None, injected=(), gitignore=(), diff=DIFF):
    return {
        "changed_files": list(changed) + list(injected),
        "diff": diff,
        "original_commits": originals or [],
        "existing_gitignore": list(gitignore),
        "noise_injected": bool(injected),
        "injected_files": list(injected),
        "languages": ["python"],
    }


# --- grouping primitives --------------------------------------------------------------

def test_pair_f1_and_ari_hand_computed():
    # pred {a,b}{c}{d} vs ref {a,b,c}{d}: 1 shared pair, pred has 1 pair, ref has 3, 6 pairs in all.
    pred, ref = [0, 0, 1, 2], [0, 0, 0, 1]
    assert pair_f1(pred, ref) == pytest.approx(2 * 1 * (1 / 3) / (1 + 1 / 3))  # 0.5
    # ARI = (1 - 1*3/6) / ((1+3)/2 - 1*3/6) = 0.5 / 1.5
    assert adjusted_rand(pred, ref) == pytest.approx(1 / 3)


def test_ari_of_identical_and_trivial_groupings():
    assert adjusted_rand([0, 0, 1], [5, 5, 7]) == 1.0  # same partition, different ids
    assert adjusted_rand([0, 1, 2], [0, 1, 2]) == 1.0  # both all singletons
    assert adjusted_rand([0], [0]) == 1.0
    # Everything together vs everything apart: chance level.
    assert adjusted_rand([0, 0, 0], [0, 1, 2]) == 0.0
    assert pair_f1([0, 1, 2], [0, 1, 2]) == 1.0
    assert pair_f1([0, 0, 0], [0, 1, 2]) == 0.0


def test_grouping_one_commit_for_two_reference_commits():
    pred = [commit("feat: all", ["a", "b", "c"])]
    ref = [commit("feat: ab", ["a", "b"]), commit("fix: c", ["c"])]
    s = grouping_scores(pred, ref, ["a", "b", "c"])
    assert s["exact"] == 0.0
    assert s["pair_f1"] == pytest.approx(0.5)  # P = 1/3, R = 1
    assert s["ari"] == pytest.approx(0.0)  # (1 - 3*1/3) / (2 - 1)
    # Hungarian matches {a,b,c} to {a,b} (2/3); the unmatched ref commit counts 0 -> (2/3)/2.
    assert s["jaccard"] == pytest.approx(1 / 3)
    assert s["type_acc"] == 1.0  # feat vs feat on the one matched pair
    assert s["subject_sim"] == pytest.approx(metrics.edit_similarity("feat: all", "feat: ab"))


def test_grouping_perfect_in_other_order():
    pred = [commit("fix: c", ["c"]), commit("feat: ab", ["b", "a"])]
    ref = [commit("feat: ab", ["a", "b"]), commit("fix: c", ["c"])]
    s = grouping_scores(pred, ref, ["a", "b", "c"])
    assert s == {"exact": 1.0, "pair_f1": 1.0, "ari": 1.0, "jaccard": 1.0, "type_acc": 1.0,
                 "subject_sim": 1.0}


def test_hungarian_is_one_to_one_unlike_greedy_best_match():
    # Greedy per-reference best match would give both ref commits the big pred commit.
    pred = [commit("feat: x", ["a", "b", "c"]), commit("fix: y", ["d"])]
    ref = [commit("fix: y", ["a", "b"]), commit("feat: x", ["c", "d"])]
    s = grouping_scores(pred, ref, ["a", "b", "c", "d"])
    # Options: {abc}-{ab}=2/3 + {d}-{cd}=1/2 = 7/6, or {abc}-{cd}=1/4 + {d}-{ab}=0.
    assert s["jaccard"] == pytest.approx(7 / 12)
    assert s["type_acc"] == 0.0  # feat matched to fix, fix matched to feat


def test_type_accuracy_ignores_non_conventional_reference_subjects():
    pred = [commit("fix(io): close file", ["a"])]
    ref = [commit("Close the file", ["a"])]
    assert grouping_scores(pred, ref, ["a"])["type_acc"] is None


def test_subject_similarity_is_one_minus_edit_distance_over_longer():
    assert metrics.edit_similarity("fix: a", "fix: b") == pytest.approx(1 - 1 / 6)
    assert metrics.edit_similarity("abc", "abcdef") == pytest.approx(0.5)
    assert metrics.edit_similarity("", "") == 1.0


# --- whole predictions ----------------------------------------------------------------

def test_empty_proposal():
    ex = example(["src/client.py", "README.md"])
    ref = {"commits": [commit("feat: client", ["src/client.py", "README.md"])], "gitignore": []}
    s = score_prediction({"commits": [], "gitignore": []}, ex, ref)
    assert s["parsed"] == s["schema_valid"] == 1.0
    for key in ("exact", "pair_f1", "ari", "jaccard", "coverage", "complete"):
        assert s[key] == 0.0, key
    for key in ("type_acc", "subject_sim", "hallucination", "format_ok", "unknown_files"):
        assert s[key] is None, key
    assert s["junk_routed"] is None  # no noise injected


def test_unparsed_prediction_scores_like_committing_nothing():
    ex = example(["a.py"], injected=["debug.log"])
    ref = {"commits": [commit("feat: a", ["a.py"])], "gitignore": ["*.log"]}
    s = score_prediction(None, ex, ref, parsed=True)
    assert (s["parsed"], s["schema_valid"]) == (1.0, 0.0)
    assert s["exact"] == s["jaccard"] == s["coverage"] == 0.0
    assert s["junk_routed"] == 0.0
    assert score_prediction(None, ex, ref)["parsed"] == 0.0


def test_one_commit_one_file():
    ex = example(["src/client.py"])
    p = {"commits": [commit("feat(client): add HttpClient", ["src/client.py"])], "gitignore": []}
    s = score_prediction(p, ex, p)
    assert s["exact"] == s["pair_f1"] == s["ari"] == s["jaccard"] == 1.0
    assert s["coverage"] == s["complete"] == 1.0
    assert s["hallucination"] == 0.0
    assert s["format_ok"] == 1.0


def test_files_absent_from_the_change():
    ex = example(["src/client.py", "README.md"])
    ref = {"commits": [commit("feat: client", ["src/client.py", "README.md"])]}
    p = {"commits": [commit("feat: client", ["src/client.py", "README.md", "src/ghost.py", "x.txt"])],
         "gitignore": []}
    s = score_prediction(p, ex, ref)
    assert s["unknown_files"] == pytest.approx(2 / 4)
    # Grouping is scored over the change only, so the ghost files do not count twice.
    assert s["exact"] == 1.0 and s["jaccard"] == 1.0
    assert s["coverage"] == 1.0


def test_all_junk_example():
    ex = example([], injected=["debug.log", "build/out.o"])
    routed = {"commits": [], "gitignore": ["*.log", "build/"]}
    s = score_prediction(routed, ex, {"commits": [], "gitignore": []})
    for key in ("exact", "pair_f1", "ari", "jaccard", "coverage", "complete"):
        assert s[key] is None, key
    assert s["junk_routed"] == 1.0
    committed = {"commits": [commit("chore: add logs", ["debug.log"])], "gitignore": ["build/"]}
    assert score_prediction(committed, ex, None)["junk_routed"] == 0.5


def test_junk_routing_counts_existing_gitignore_and_needs_pattern():
    ex = example(["a.py"], injected=["tmp/cache.bin", "notes.swp"], gitignore=["tmp/"])
    p = {"commits": [commit("feat: a", ["a.py"])], "gitignore": []}
    assert score_prediction(p, ex, None)["junk_routed"] == 0.5  # swp neither committed nor ignored
    p["gitignore"] = ["*.swp"]
    assert score_prediction(p, ex, None)["junk_routed"] == 1.0


def test_junk_is_outside_the_grouping_universe():
    ex = example(["a.py", "b.py"], injected=["debug.log"])
    ref = {"commits": [commit("feat: ab", ["a.py", "b.py"])]}
    p = {"commits": [commit("feat: ab", ["a.py", "b.py", "debug.log"])], "gitignore": []}
    s = score_prediction(p, ex, ref)
    assert s["exact"] == 1.0
    assert s["junk_routed"] == 0.0
    assert s["unknown_files"] == 0.0  # junk is in the change; it is misrouted, not invented


def test_hallucination_share_of_commits():
    ex = example(["src/client.py", "README.md"])
    p = {"commits": [
        commit("feat(client): add HttpClient", ["src/client.py"], "Adds send_request with a timeout."),
        commit("docs: describe RetryPolicy", ["README.md"], "Documents the RetryPolicy class."),
    ], "gitignore": []}
    s = score_prediction(p, ex, None)
    assert s["hallucination"] == 0.5


def test_format_compliance_rates():
    ex = example(["a", "b", "c"])
    p = {"commits": [
        commit("feat(a): add a", ["a"], "short line"),
        commit("Add b", ["b"]),  # not conventional
        commit("fix: " + "x" * 70, ["c"], "ok\n" + "y" * 81),  # 75-char subject, long body line
    ], "gitignore": []}
    s = score_prediction(p, ex, None)
    assert s["conventional"] == pytest.approx(2 / 3)
    assert s["subject_len_ok"] == pytest.approx(2 / 3)
    assert s["body_ok"] == pytest.approx(2 / 3)
    assert s["format_ok"] == pytest.approx(1 / 3)


def test_unknown_type_is_not_conventional():
    assert metrics.commit_type("feature(x): add y") is None
    assert metrics.commit_type("fix(x)!: drop y") == "fix"
    assert metrics.commit_type("fix:missing space") is None


def test_file_in_two_commits_breaks_coverage_and_exact_match():
    ex = example(["a", "b"])
    ref = {"commits": [commit("feat: a", ["a"]), commit("feat: b", ["b"])]}
    p = {"commits": [commit("feat: a", ["a", "b"]), commit("feat: b", ["b"])], "gitignore": []}
    s = score_prediction(p, ex, ref)
    assert s["coverage"] == 0.5 and s["complete"] == 0.0
    assert s["exact"] == 0.0


def test_human_reference_uses_the_last_commit_touching_a_file():
    # a is touched by both original commits; its final version belongs to the second.
    originals = [{"sha": "1", "subject": "Add a", "files": ["a"]},
                 {"sha": "2", "subject": "Tweak a and add b", "files": ["a", "b", "gone"]}]
    ex = example(["a", "b"], originals=originals)
    p = {"commits": [commit("feat: a and b", ["a", "b"])], "gitignore": []}
    s = score_prediction(p, ex, None)
    assert s["human_exact"] == 1.0
    assert s["human_ari"] == 1.0
    assert s["human_type_acc"] is None  # human subjects are not conventional
    assert s["exact"] is None  # no reference label given
    # Jaccard uses each original commit's own files: {a,b} vs {a} (1/2) or {a,b} (1): picks 1, over 2.
    assert s["human_jaccard"] == pytest.approx(0.5)


def test_uncovered_files_are_singletons():
    ex = example(["a", "b", "c"])
    ref = {"commits": [commit("feat: ab", ["a", "b"]), commit("fix: c", ["c"])]}
    p = {"commits": [commit("feat: ab", ["a", "b"])], "gitignore": []}
    s = score_prediction(p, ex, ref)
    assert s["exact"] == 0.0  # c is in no commit
    assert s["pair_f1"] == 1.0 and s["ari"] == 1.0  # the pairs agree
    assert s["jaccard"] == pytest.approx(0.5)
    assert s["coverage"] == pytest.approx(2 / 3)


# --- aggregation ----------------------------------------------------------------------

def test_aggregate_skips_none_and_is_seeded():
    rows = [{"exact": 1.0, "type_acc": None}, {"exact": 0.0, "type_acc": 1.0},
            {"exact": 1.0, "type_acc": 0.0}, {"exact": 1.0}]
    a = metrics.aggregate(rows, n_boot=500, seed=3)
    assert a["exact"]["mean"] == 0.75 and a["exact"]["n"] == 4
    assert 0.0 <= a["exact"]["lo"] <= 0.75 <= a["exact"]["hi"] <= 1.0
    assert a["type_acc"]["n"] == 2 and a["type_acc"]["mean"] == 0.5
    assert a["jaccard"] == {"mean": None, "lo": None, "hi": None, "n": 0}
    assert metrics.aggregate(rows, n_boot=500, seed=3) == a
    assert list(a) == list(metrics.METRICS)


def test_breakdown_groups_rows_by_every_key():
    rows = [{"exact": 1.0}, {"exact": 0.0}, {"exact": 1.0}]
    out = metrics.breakdown(rows, [["python"], ["python", "go"], []], n_boot=100)
    assert out["python"]["exact"]["mean"] == 0.5 and out["python"]["exact"]["n"] == 2
    assert out["go"]["exact"]["mean"] == 0.0
    assert set(out) == {"go", "python"}


def test_diff_size_buckets():
    assert metrics.diff_size_bucket("x" * 10) == "< 2k"
    assert metrics.diff_size_bucket(2_000) == "2k-8k"
    assert metrics.diff_size_bucket(19_999) == "8k-20k"
    assert metrics.diff_size_bucket(59_550) == ">= 20k"


# --- stats -----------------------------------------------------------------------------

def test_mean_ci_known_cases():
    assert stats.mean_ci([]) == {"mean": None, "lo": None, "hi": None, "n": 0}
    assert stats.mean_ci([0.4]) == {"mean": 0.4, "lo": 0.4, "hi": 0.4, "n": 1}
    r = stats.mean_ci([0, 1] * 200, seed=1)
    assert r["mean"] == 0.5
    # Normal approximation: 0.5 +- 1.96 * 0.5 / sqrt(400) = +- 0.049.
    assert r["lo"] == pytest.approx(0.451, abs=0.012) and r["hi"] == pytest.approx(0.549, abs=0.012)


def test_wilson_interval():
    lo, hi = stats.wilson(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert stats.wilson(0, 0) == (0.0, 1.0)
    lo, hi = stats.wilson(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)


def test_win_rates_count_ties_half():
    outcomes = [("A", "B", 1.0), ("A", "B", 0.5), ("B", "A", 1.0), ("A", "B", 1.0)]
    rows = {(r["a"], r["b"]): r for r in stats.win_rates(outcomes)}
    ab = rows[("A", "B")]
    assert (ab["wins"], ab["ties"], ab["losses"], ab["n"]) == (2, 1, 1, 4)
    assert ab["rate"] == pytest.approx(2.5 / 4)
    assert rows[("B", "A")]["rate"] == pytest.approx(1.5 / 4)


def test_bradley_terry_two_systems_matches_closed_form():
    # A scores 3 of 4 against B (a tie counts half): MLE strength ratio 3, log-strengths +-ln(3)/2.
    outcomes = [("A", "B", 1.0), ("A", "B", 1.0), ("B", "A", 0.5), ("A", "B", 0.5)]
    rows = stats.bradley_terry(outcomes, prior=0.0, n_boot=0)
    assert [r["system"] for r in rows] == ["A", "B"]
    assert rows[0]["strength"] == pytest.approx(math.log(3) / 2, abs=1e-6)
    assert rows[1]["strength"] == pytest.approx(-math.log(3) / 2, abs=1e-6)
    assert rows[0]["rank"] == 1 and rows[0]["games"] == 4


def test_bradley_terry_ranking_and_intervals():
    outcomes = ([("A", "B", 1.0)] * 8 + [("B", "A", 1.0)] * 2 + [("B", "C", 1.0)] * 8
                + [("C", "B", 1.0)] * 2 + [("A", "C", 1.0)] * 9 + [("C", "A", 1.0)])
    rows = stats.bradley_terry(outcomes, seed=5, n_boot=300)
    assert [r["system"] for r in rows] == ["A", "B", "C"]
    for r in rows:
        assert r["lo"] <= r["strength"] <= r["hi"]
    assert rows[0]["lo"] > rows[2]["hi"]  # A clearly above C
    assert stats.bradley_terry(outcomes, seed=5, n_boot=300) == rows
    # A system that never wins still gets a finite strength thanks to the prior.
    never = stats.bradley_terry([("A", "B", 1.0)] * 3, n_boot=50)
    assert all(math.isfinite(r["strength"]) for r in never)


def test_bradley_terry_all_ties_is_flat():
    rows = stats.bradley_terry([("A", "B", 0.5), ("B", "C", 0.5), ("A", "C", 0.5)], n_boot=50)
    assert all(r["strength"] == pytest.approx(0.0, abs=1e-6) for r in rows)
