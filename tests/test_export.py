"""The pure SFT export (labeling/export/snapshot.py): split, weights, augmentation, determinism.

Records are built from the generated harvested sample (tests/sample_data.py: eleven
repositories, several languages) with labels made from the original human commits,
so the split and language tables meet harvested data.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from gsctune.domain.diffs import split_diff
from gsctune.domain.noise import junk_pattern_for
from gsctune.domain.prompts import FINETUNE_SYSTEM_PROMPT, parse_user_turn
from labeling.export import snapshot as E
from tests.sample_data import sample_examples


def make_label(example: dict, label_id: int, subject: str = "feat(core): change {j}") -> dict:
    commits = [
        {"subject": subject.format(j=j), "files": c["files"] or ["README"], "body": "", "issues": []}
        for j, c in enumerate(example["original_commits"])
    ]
    return {"id": label_id, "commits": commits, "gitignore": [], "model": "baseline",
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
            "noise_injected": False, "injected_files": []}


def make_record(example: dict, label_id: int, verdict: str = "accepted", **extra) -> dict:
    rec = {"example": example, "label": make_label(example, label_id), "verdict": verdict,
           "teacher": "baseline", "prompt_version": "1", "prompt": None, "findings": []}
    rec.update(extra)
    return rec


@pytest.fixture(scope="module")
def examples() -> list[dict]:
    return sample_examples()


@pytest.fixture(scope="module")
def records(examples) -> list[dict]:
    """The generated sample labeled by the offline baseline, verdicts spread over the four classes."""
    from gsctune.domain.baseline import BASELINE_MODEL, label

    verdicts = ("accepted", "corrected", "unreviewed", "rejected")
    out = []
    for i, ex in enumerate(examples):
        rec = make_record(ex, i + 1, verdicts[i % 4])
        rec["label"].update(label(ex["changed_files"], ex["diff"]).to_label_dict(), model=BASELINE_MODEL)
        out.append(rec)
    return out


def synthetic(n_repos: int = 30, per_repo: int = 5) -> list[dict]:
    langs = ["python", "go", "rust", "c", "ruby"]
    out = []
    for r in range(n_repos):
        for k in range(per_repo):
            ex = {
                "repo_url": f"github.com/org/repo{r}", "branch": "main", "base_commit": f"{r:04d}{k:036d}",
                "head_commit": f"{k:04d}{r:036d}", "n_commits": 1,
                "diff": f"diff --git a/f{r}_{k}.py b/f{r}_{k}.py\n--- a/f{r}_{k}.py\n+++ b/f{r}_{k}.py\n"
                        f"@@ -1 +1 @@\n-old {r} {k}\n+new {r} {k}\n",
                "changed_files": [f"f{r}_{k}.py"],
                "original_commits": [{"sha": "a" * 40, "subject": "x", "files": [f"f{r}_{k}.py"]}],
                "existing_gitignore": [], "languages": [langs[r % len(langs)]] + (["shell"] if k == 0 else []),
            }
            out.append(make_record(ex, r * 100 + k))
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def user_diff_chunks(row: dict) -> set[str]:
    """Digests of the non-junk file chunks of a row's diff (junk: what augmentation adds)."""
    _, diff, _ = parse_user_turn(row["messages"][1]["content"])
    return {hashlib.sha1(fd.text.encode()).hexdigest() for fd in split_diff(diff)
            if not junk_pattern_for(fd.path)}


@pytest.fixture(scope="module")
def sample_export(records, tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    opts = E.ExportOptions(include_unreviewed=True, augment=2, seed=7)
    return E.export(records, opts, str(out)), out


def test_no_repository_in_both_splits(sample_export, records):
    result, out = sample_export
    by_key = {E.record_key(r["example"]): r for r in records}
    repos = {"train": set(), "val": set()}
    for prov in result.manifest["records"]:
        repos[prov["split"]].add(E.normalize_repo(by_key[prov["key"]]["example"]["repo_url"]))
    assert repos["train"] and repos["val"]
    assert not repos["train"] & repos["val"]
    assert sorted(repos["val"]) == result.manifest["split"]["val_repositories"]


def test_no_validation_diff_nor_its_copies_in_train(sample_export):
    _, out = sample_export
    val_chunks = set().union(*(user_diff_chunks(r) for r in read_jsonl(out / "val.jsonl")))
    train = read_jsonl(out / "train.jsonl")
    assert val_chunks and train
    for row in train:
        assert not user_diff_chunks(row) & val_chunks


def test_augmentation_only_in_train_with_matching_gitignore(sample_export, records):
    from gsctune.domain.noise import is_ignored

    result, out = sample_export
    counts = result.manifest["counts"]
    assert counts["augmented_rows"] > 0
    assert counts["train_rows"] == counts["train_rows_before_augmentation"] + counts["augmented_rows"]
    by_key = {E.record_key(r["example"]): r["example"] for r in records}
    val_keys = [p["key"] for p in result.manifest["records"] if p["split"] == "val" and p["rows"]]
    val_rows = read_jsonl(out / "val.jsonl")
    assert len(val_keys) == len(val_rows)
    for key, row in zip(val_keys, val_rows):  # val rows: exactly the example's files, nothing injected
        files, _, _ = parse_user_turn(row["messages"][1]["content"])
        assert files == by_key[key]["changed_files"]
    with_junk = 0
    for row in read_jsonl(out / "train.jsonl"):
        files, _, _ = parse_user_turn(row["messages"][1]["content"])
        answer = json.loads(row["messages"][2]["content"])
        committed = {f for c in answer["commits"] for f in c["files"]}
        left_out = [f for f in files if f not in committed]
        for f in left_out:  # every file not committed is ignored by the label's .gitignore
            assert is_ignored(f, answer["gitignore"]), (f, answer["gitignore"])
        with_junk += bool(left_out)
    assert with_junk >= counts["augmented_rows"]


def test_every_train_language_in_val_where_the_data_allows(sample_export):
    manifest = sample_export[0].manifest
    langs = manifest["languages"]
    uncovered = manifest["split"]["languages_not_in_val"]
    for lang, row in langs.items():
        if row["train_examples"] and not row["val_examples"]:
            assert uncovered.get(lang) == "only one repository has it", lang
    assert manifest["counts"]["val_fraction_actual"] <= 0.2 + 1e-9


def test_rejected_and_unreviewed_selection(records, tmp_path):
    result = E.export(records, E.ExportOptions(), str(tmp_path))
    verdicts = Counter(p["verdict"] for p in result.manifest["records"])
    assert set(verdicts) == {"accepted", "corrected"}
    n_rejected = sum(r["verdict"] == "rejected" for r in records)
    assert n_rejected and result.manifest["counts"]["excluded"]["rejected"] == n_rejected
    n_unreviewed = sum(r["verdict"] == "unreviewed" for r in records)
    assert result.manifest["counts"]["excluded"]["unreviewed not included"] == n_unreviewed
    rejected_ids = {r["label"]["id"] for r in records if r["verdict"] == "rejected"}
    assert not rejected_ids & {p["label_id"] for p in result.manifest["records"]}


def test_corrected_revision_wins_over_the_label_it_corrects(examples, tmp_path):
    ex = examples[0]
    teacher = make_record(ex, 1, "accepted")
    human = make_record(ex, 2, "corrected", teacher=None)
    human["label"]["commits"] = [{"subject": "docs(readme): human fix", "files": ex["changed_files"],
                                  "body": "", "issues": []}]
    rejected = make_record(ex, 3, "rejected")
    for order in ([teacher, human, rejected], [rejected, human, teacher]):
        result = E.export(order, E.ExportOptions(val_fraction=0), str(tmp_path))
        assert [p["label_id"] for p in result.manifest["records"]] == [2]
        row = read_jsonl(tmp_path / "train.jsonl")[0]
        assert json.loads(row["messages"][2]["content"])["commits"][0]["subject"] == "docs(readme): human fix"


def test_weights_change_train_counts(tmp_path):
    recs = synthetic()
    for i, rec in enumerate(recs):
        rec["verdict"] = ("accepted", "corrected", "unreviewed")[i % 3]
    base = E.export(recs, E.ExportOptions(include_unreviewed=True, val_fraction=0), str(tmp_path / "a"))
    rows = Counter()
    for p in base.manifest["records"]:
        rows[p["verdict"]] += p["rows"]
    assert rows["accepted"] == 50 and rows["corrected"] == 100
    assert 10 < rows["unreviewed"] < 40  # about half of 50, drawn by hash
    heavy = E.export(recs, E.ExportOptions(include_unreviewed=True, val_fraction=0,
                                           weights={"accepted": 3, "corrected": 0, "unreviewed": 1}),
                     str(tmp_path / "b"))
    rows = Counter()
    for p in heavy.manifest["records"]:
        rows[p["verdict"]] += p["rows"]
        assert p["weight"] == {"accepted": 3.0, "corrected": 0.0, "unreviewed": 1.0}[p["verdict"]]
    assert rows == Counter({"accepted": 150, "unreviewed": 50})
    assert heavy.manifest["counts"]["train_rows"] == 200


def test_byte_identical_whatever_the_order(records, tmp_path):
    opts = E.ExportOptions(include_unreviewed=True, augment=1, seed=3)
    shuffled = list(records)
    random.Random(1).shuffle(shuffled)
    first = len(records) * 2 // 5  # a subset, chosen by label id in the shuffled copy
    a = E.export(records[:first], opts, str(tmp_path / "a"))
    b = E.export([r for r in shuffled if r["label"]["id"] <= first], opts, str(tmp_path / "b"))
    for name in ("train.jsonl", "val.jsonl", "labeled.jsonl", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert a.files == b.files


def test_split_order_independent_and_seeded():
    recs = synthetic(n_repos=40)
    opts = E.ExportOptions(val_fraction=0.2, seed=1)
    first = E.plan(recs, opts)
    again = E.plan(list(reversed(recs)), opts)
    assert first.split == again.split
    other = E.plan(recs, E.ExportOptions(val_fraction=0.2, seed=2))
    assert other.split.val_repos != first.split.val_repos
    counts = first.counts()
    assert 0.15 <= counts["val_fraction_actual"] <= 0.25
    assert all(row["val"] for row in counts["by_language"].values())


def test_held_out_repositories_go_to_validation():
    recs = synthetic(n_repos=10)
    held = ["https://GitHub.com/org/repo3.git", "github.com/org/repo4"]
    result = E.plan(recs, E.ExportOptions(val_fraction=0.1, held_out=held))
    assert {"github.com/org/repo3", "github.com/org/repo4"} <= set(result.split.val_repos)
    assert result.split.train_repos


def test_filters_by_teacher_prompt_findings_repository_language():
    recs = synthetic(n_repos=5)
    recs[0]["teacher"] = "other"
    recs[1]["prompt_version"] = "2"
    recs[2]["findings"] = ["junk_committed"]
    recs[3]["findings"] = ["subject_too_long"]
    sel = E.select(recs, E.ExportOptions(teachers=["baseline"], prompt_versions=["1"],
                                         exclude_findings=["junk_committed"]))
    assert dict(sel.excluded) == {"other teacher": 1, "other prompt version": 1, "check findings": 1}
    assert len(E.select(recs, E.ExportOptions(exclude_findings=["*"])).records) == 23
    assert len(E.select(recs, E.ExportOptions(repositories=["github.com/org/repo1"])).records) == 5
    assert len(E.select(recs, E.ExportOptions(languages=["shell"])).records) == 5


def test_character_truncation_marker_and_over_budget_report(examples, tmp_path):
    big = max(examples, key=lambda ex: len(ex["diff"]))
    small = min(examples, key=lambda ex: len(ex["diff"]))
    recs = [make_record(big, 1), make_record(small, 2)]
    result = E.export(recs, E.ExportOptions(val_fraction=0, max_diff_chars=2000, max_total=2500, prompt="short"),
                      str(tmp_path))
    rows = read_jsonl(tmp_path / "train.jsonl")
    assert result.manifest["counts"]["truncated_examples"] == 1
    over = result.manifest["over_budget"]
    assert [o["key"] for o in over] == [E.record_key(big)] and over[0]["unit"] == "characters"
    assert len(rows) == 1  # the over-budget row is reported, the other written
    result = E.export(recs, E.ExportOptions(val_fraction=0, max_diff_chars=2000, prompt="short"), str(tmp_path))
    rows = read_jsonl(tmp_path / "train.jsonl")
    cut = [r for r in rows if "[diff truncated: " in r["messages"][1]["content"]]
    assert len(cut) == 1 and parse_user_turn(cut[0]["messages"][1]["content"])[2] is True
    assert rows[0]["messages"][0]["content"] == FINETUNE_SYSTEM_PROMPT


def test_labeling_prompt_uses_the_record_prompt_version(examples, tmp_path):
    rec = make_record(examples[5], 1, prompt={"system_prompt": "CUSTOM RULES", "output_format": "JSON please",
                                              "sample_output": ""})
    E.export([rec], E.ExportOptions(val_fraction=0), str(tmp_path))
    system = read_jsonl(tmp_path / "train.jsonl")[0]["messages"][0]["content"]
    assert system.startswith("CUSTOM RULES") and "JSON please" in system


def test_labeled_jsonl_is_the_users_format(records, tmp_path):
    E.export(records[:50], E.ExportOptions(include_unreviewed=True), str(tmp_path))
    lines = read_jsonl(tmp_path / "labeled.jsonl")
    assert lines
    for line in lines:
        assert list(line) == [*E.HARVESTED_FIELDS, "noise_injected", "injected_files", "label"]
        assert set(line["label"]) == {"commits", "gitignore", "model", "usage"}


def test_invalid_label_is_reported_not_fatal(examples, tmp_path):
    bad = make_record(examples[0], 1)
    bad["label"]["commits"][0]["subject"] = "no conventional subject"
    result = E.export([bad, make_record(examples[1], 2)], E.ExportOptions(val_fraction=0), str(tmp_path))
    assert result.manifest["invalid_labels"][0]["label_id"] == 1
    assert "subject" in result.manifest["invalid_labels"][0]["error"]
    assert result.manifest["counts"]["train_rows"] == 1


def test_options_are_validated():
    with pytest.raises(ValueError, match="val_fraction"):
        E.ExportOptions(val_fraction=1.5)
    with pytest.raises(ValueError, match="tokenizer"):
        E.ExportOptions(max_diff_tokens=100)
    with pytest.raises(ValueError, match="unknown verdict"):
        E.ExportOptions(weights={"rejected": 1})


def test_a_forks_copy_of_a_validation_diff_never_reaches_train(examples, tmp_path):
    from gsctune.domain.noise import apply_noise, make_noise

    original = examples[0]
    fork = dict(original, repo_url="github.com/someone/fork-of-" + original["repo_url"].rsplit("/", 1)[1])
    noise = make_noise(E.record_key(fork), fork["changed_files"], seed=3, probability=1.0)
    fork["changed_files"], fork["diff"] = apply_noise(fork["changed_files"], fork["diff"], noise)
    forked = make_record(fork, 2)
    forked["label"].update(noise_injected=True, injected_files=noise.files)
    other = make_record(next(ex for ex in examples if ex["repo_url"] != original["repo_url"]), 3)
    opts = E.ExportOptions(val_fraction=0.1, held_out=[original["repo_url"]])
    result = E.export([make_record(original, 1), forked, other], opts, str(tmp_path))
    assert result.manifest["dropped_train_duplicates_of_val"] == [E.record_key(fork)]
    assert result.manifest["counts"]["train_rows"] == 1


def test_messages_line_is_exactly_json_dumps():
    cache = {}
    for messages in (
        [{"role": "system", "content": "règles \"strictes\"\n\t\u2028"},
         {"role": "user", "content": "diff --git a/é b/é\n+\\x\u0000\n"},
         {"role": "assistant", "content": '{"commits":[],"gitignore":["*.pyc"]}'}],
        [{"role": "system", "content": "règles \"strictes\"\n\t\u2028"}, {"role": "user", "content": ""}],
    ):
        assert E.messages_line(messages, cache) == json.dumps({"messages": messages}, ensure_ascii=False, separators=(",", ":")) + "\n"
    assert len(cache) == 1


@pytest.mark.parametrize("chunk", [1, 200, 4 << 20])
def test_manifest_describes_each_file_as_written(examples, tmp_path, monkeypatch, chunk):
    """Files go out in chunks (a line or many per write); sizes, line counts and hashes are the files'."""
    monkeypatch.setattr(E, "WRITE_CHUNK", chunk)
    records = [make_record(ex, i + 1) for i, ex in enumerate(examples[:12])]
    result = E.export(records, E.ExportOptions(val_fraction=0.3), str(tmp_path))
    for name in ("train.jsonl", "val.jsonl", "labeled.jsonl"):
        data = (tmp_path / name).read_bytes()
        assert result.files[name] == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                                      "lines": data.count(b"\n")}
    assert result.files["labeled.jsonl"]["lines"] == 12
