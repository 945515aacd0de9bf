"""SFT export over plain records: selection, weighting, a leak-free split,
augmentation, truncation and serialization.

Django-free on purpose: the service (``labeling.export.services``) turns database rows
into records and this module does the rest, so the logic is fast and tested
without a database. Everything is deterministic and independent of the input
order: records are keyed by the example key and every random choice is a hash
of (seed, key, purpose).

A record is a dict::

    {"example": {...harvested fields...},            # as the teacher saw it
     "label": {"id", "commits", "gitignore", "model", "usage",
               "noise_injected", "injected_files"},
     "verdict": "accepted" | "corrected" | "unreviewed" | "rejected",
     "teacher": str | None, "prompt_version": str | None,
     "prompt": {"system_prompt", "output_format", "sample_output"} | None,
     "findings": [check names]}

The example is the one the labeler saw (junk injected at labeling included).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace

from gsctune.domain import tool_export
from gsctune.domain.diffs import remove_files
from gsctune.domain.hunk_proposal import example_hunk_view, labeled_fields, to_file_label
from gsctune.domain.noise import apply_noise, make_noise
from gsctune.domain.prompts import (
    DEFAULT_PROMPT,
    PromptSpec,
    build_finetune_messages,
    build_messages,
    truncate_diff,
)
from gsctune.domain.proposal import Proposal
from gsctune.domain.protocol import BUILTIN, ProtocolSpec
from gsctune.domain.records import json_bytes, record_key
from gsctune.domain.seeding import seeded_int

VERDICTS = ("corrected", "accepted", "unreviewed", "rejected")
DEFAULT_WEIGHTS = {"corrected": 2.0, "accepted": 1.0, "unreviewed": 0.5}
NO_LANGUAGE = "(none)"
ANY_FINDING = "*"
HARVESTED_FIELDS = (
    "repo_url", "branch", "base_commit", "head_commit", "n_commits", "diff", "changed_files",
    "original_commits", "existing_gitignore", "languages",
)
OUTPUT_FILES = ("train.jsonl", "val.jsonl", "labeled.jsonl")
JSON_FILES = "json-files"
TOOL_TARGET = tool_export.TARGET  # "git-smart-commit"
TARGETS = (TOOL_TARGET, JSON_FILES)
WRITE_CHUNK = 4 << 20  # bytes per write (and sha256 update) of an export file
BUILTIN_PROTOCOL = "builtin"  # protocol_version for gsctune's built-in spec (not what the tool sends)
OWN_TEXT = "text"  # system_prompt_from: the training rows' system prompt is system_prompt_text
CHOSEN_NOTE = "system prompt chosen on purpose: differs from what the tool sends"


@dataclass
class ExportOptions:
    """Everything that decides the export's content (written into the manifest)."""

    include_accepted: bool = True
    include_corrected: bool = True
    include_unreviewed: bool = False
    teachers: list[str] = field(default_factory=list)  # empty: any
    prompt_versions: list[str] = field(default_factory=list)  # empty: any
    exclude_findings: list[str] = field(default_factory=list)  # check names, or "*" for any finding
    repositories: list[str] = field(default_factory=list)  # empty: all
    languages: list[str] = field(default_factory=list)  # empty: all; "(none)" selects no-language examples
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    val_fraction: float = 0.1
    # Covering every language in validation may need more repositories than the
    # fraction asks for; this caps how far (default: twice the fraction).
    max_val_fraction: float | None = None
    seed: int = 0
    held_out: list[str] = field(default_factory=list)  # repositories forced into validation
    augment: int = 0  # noisy copies per train row
    prompt: str = "labeling"  # or "short"
    max_diff_chars: int = 24000
    tokenizer: str | None = None
    max_diff_tokens: int | None = None
    max_total: int | None = None  # whole conversation, tokens with a tokenizer, else characters
    # json-files: one {"messages": [system, user, assistant JSON]} per row (the labeling prompt);
    # git-smart-commit: the conversation the tool holds (tool_export.tool_record).
    target: str = JSON_FILES
    protocol_version: str = ""  # git-smart-commit: a ProtocolVersion id, "builtin", or "" (latest captured)
    # git-smart-commit: train under another system prompt than the protocol's, on purpose (the manifest
    # flags it): a PromptVersion id (its system prompt), or "text" for system_prompt_text; "": the protocol's.
    system_prompt_from: str = ""
    system_prompt_text: str = ""
    # Add the read_file / get_diff turns the student needs (tool_export) to every label; False: only to
    # labels whose maker may have read new files' content (label["saw_new_content"], True when absent).
    read_new_files: bool = True
    keep_new_content: bool = False  # show new files' content in the user turn instead (no read turn)

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        self.protocol_version = str(self.protocol_version or "")
        self._check_system_prompt()
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.prompt not in ("labeling", "short"):
            raise ValueError(f"prompt must be 'labeling' or 'short', got {self.prompt!r}")
        if self.max_val_fraction is not None and not 0 <= self.max_val_fraction < 1:
            raise ValueError(f"max_val_fraction must be in [0, 1), got {self.max_val_fraction}")
        if self.max_diff_chars < 1:
            raise ValueError(f"max_diff_chars must be positive, got {self.max_diff_chars}")
        if self.augment < 0:
            raise ValueError(f"augment must be >= 0, got {self.augment}")
        for verdict, weight in self.weights.items():
            if verdict not in DEFAULT_WEIGHTS:
                raise ValueError(f"unknown verdict class in weights: {verdict!r}")
            if not (isinstance(weight, (int, float)) and 0 <= weight <= 100):
                raise ValueError(f"weight for {verdict} must be a number in [0, 100], got {weight!r}")
        if self.tokenizer and not self.max_diff_tokens:
            raise ValueError("a tokenizer needs max_diff_tokens")
        if self.max_diff_tokens and not self.tokenizer:
            raise ValueError("max_diff_tokens needs a tokenizer path")
        self.weights = {k: float(self.weights.get(k, DEFAULT_WEIGHTS[k])) for k in DEFAULT_WEIGHTS}
        for name in ("teachers", "prompt_versions", "exclude_findings", "languages"):
            setattr(self, name, sorted({str(v) for v in getattr(self, name)}))
        self.repositories = sorted({normalize_repo(r) for r in self.repositories})
        self.held_out = sorted({normalize_repo(r) for r in self.held_out})

    def _check_system_prompt(self) -> None:
        self.system_prompt_from = str(self.system_prompt_from or "").strip()
        chosen = self.system_prompt_from
        if chosen and self.target != TOOL_TARGET:
            raise ValueError("system_prompt_from: only a git-smart-commit export trains under a chosen system "
                             "prompt (json-files uses the labeling prompt)")
        if chosen and chosen != OWN_TEXT and not chosen.isdigit():
            raise ValueError(f"system_prompt_from: a prompt version id or {OWN_TEXT!r}, got {chosen!r}")
        if chosen == OWN_TEXT and not self.system_prompt_text.strip():
            raise ValueError("system_prompt_text: empty; write the system prompt the training rows should have")
        if self.system_prompt_text and chosen != OWN_TEXT:
            raise ValueError(f"system_prompt_text: given, but system_prompt_from is {chosen!r}, not {OWN_TEXT!r}")

    @property
    def val_cap(self) -> float:
        if self.max_val_fraction is not None:
            return max(self.max_val_fraction, self.val_fraction)
        return min(0.5, 2 * self.val_fraction)

    def to_dict(self) -> dict:
        data = asdict(self)
        if data["tokenizer"]:
            data["tokenizer"] = os.path.basename(os.path.normpath(data["tokenizer"]))
        return data


# --- keys and hashing -------------------------------------------------------------------

_SCHEME_RE = re.compile(r"^(?:[a-z+]+://)?(?:[^@/]+@)?")


def normalize_repo(url: str) -> str:
    """``https://GitHub.com/a/b.git`` and ``git@github.com:a/b`` group with ``github.com/a/b``."""
    url = _SCHEME_RE.sub("", url.strip().lower())
    url = re.sub(r"^([^/:]+):(?!\d)", r"\1/", url)
    url = url.rstrip("/")
    return url[:-4] if url.endswith(".git") else url


def _hash_int(*parts: object) -> int:
    return seeded_int("\x1f".join(str(p) for p in parts))


def _uniform(*parts: object) -> float:
    return _hash_int(*parts) / 2.0**64


def _languages(example: dict) -> list[str]:
    return sorted(set(example.get("languages") or [])) or [NO_LANGUAGE]


def _diff_digest(rec: dict) -> str:
    """The change itself, junk injected at labeling left out, so a fork's copy of a
    validation diff is recognized with or without its noise (junk is merged in path
    order, so the remaining file chunks keep git's order)."""
    diff = rec["example"]["diff"]
    junk = set(rec["label"].get("injected_files") or ())
    if junk:
        diff = remove_files(diff, junk)[0]
    return hashlib.sha1(diff.encode("utf-8")).hexdigest()


# --- selection ---------------------------------------------------------------------------

@dataclass
class Selection:
    records: list[dict]  # one per example, sorted by key
    excluded: Counter  # reason -> count
    invalid: list[dict]  # {"key", "label_id", "error"}
    answers: dict[str, str | bytes]  # key -> the chosen label's answer (the tool target's: its JSONL line)


def _verdict_included(verdict: str, opts: ExportOptions) -> bool:
    return {
        "accepted": opts.include_accepted,
        "corrected": opts.include_corrected,
        "unreviewed": opts.include_unreviewed,
    }.get(verdict, False)


def select(records: Iterable[dict], opts: ExportOptions,
           render: Callable[[dict], str | bytes] | None = None) -> Selection:
    """Keep what the options ask for; one record per example (best verdict first).

    ``render`` turns a full record into its answer (the tool target's conversation line);
    the ValueError it raises marks the label invalid, with the reason. Default: the
    json-files assistant content."""
    excluded: Counter = Counter()
    invalid: list[dict] = []
    best: dict[str, tuple[tuple, dict]] = {}
    wanted_langs = set(opts.languages)
    wanted_repos = set(opts.repositories)
    exclude_findings = set(opts.exclude_findings)
    for rec in records:
        verdict = rec.get("verdict", "unreviewed")
        ex = rec["example"]
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r} for {record_key(ex)}")
        if verdict == "rejected":
            excluded["rejected"] += 1
            continue
        if not _verdict_included(verdict, opts):
            excluded[f"{verdict} not included"] += 1
            continue
        if opts.teachers and str(rec.get("teacher")) not in opts.teachers:
            excluded["other teacher"] += 1
            continue
        if opts.prompt_versions and str(rec.get("prompt_version")) not in opts.prompt_versions:
            excluded["other prompt version"] += 1
            continue
        findings = set(rec.get("findings") or ())
        if findings and (ANY_FINDING in exclude_findings or findings & exclude_findings):
            excluded["check findings"] += 1
            continue
        if wanted_repos and normalize_repo(ex["repo_url"]) not in wanted_repos:
            excluded["other repository"] += 1
            continue
        if wanted_langs and not wanted_langs & set(_languages(ex)):
            excluded["other language"] += 1
            continue
        key = record_key(ex)
        try:
            # Validates and normalizes once; light records (counts only) carry no commits.
            answer = "" if "commits" not in rec["label"] else (
                render(rec) if render else assistant_content(file_level(rec["label"], ex)))
        except ValueError as exc:  # SchemaError, or why the tool would refuse the label
            invalid.append({"key": key, "label_id": rec["label"].get("id"), "error": str(exc)})
            excluded["invalid label"] += 1
            continue
        # Several labels for one example (teachers, revisions): the best verdict wins,
        # ties by content, never by database id or arrival order.
        rank = (VERDICTS.index(verdict), answer)
        prev = best.get(key)
        if prev is not None:
            excluded["another label of the same example"] += 1
        if prev is None or rank < prev[0]:
            best[key] = (rank, rec)
    keys = sorted(best)
    return Selection([best[k][1] for k in keys], excluded, sorted(invalid, key=lambda d: d["key"]),
                     {k: best[k][0][1] for k in keys})


# --- split -------------------------------------------------------------------------------

@dataclass
class Split:
    val_repos: list[str]
    train_repos: list[str]
    uncovered: dict[str, str]  # language in train but not in val -> why
    val_only: list[str]  # languages whose every repository went to validation


def split_repositories(records: list[dict], opts: ExportOptions) -> Split:
    """Grouped by repository, language-stratified, seeded, order-independent.

    1. held-out repositories go to validation;
    2. coverage: while a language that occurs in two or more repositories is
       missing from validation, add the repository covering most missing
       languages per example (capped at ``val_cap`` of the examples);
    3. fill up to ``val_fraction`` with the repositories whose language mix is
       most under-represented in validation, while that brings it closer.
    Ties break on a seeded hash of the repository, so the seed varies the split.
    At least one repository always stays in train.
    """
    size: Counter = Counter()
    langs: dict[str, Counter] = defaultdict(Counter)
    for rec in records:
        repo = normalize_repo(rec["example"]["repo_url"])
        size[repo] += 1
        for lang in _languages(rec["example"]):
            langs[repo][lang] += 1
    repos = sorted(size, key=lambda r: (_hash_int(opts.seed, "repo", r), r))
    total = sum(size.values())
    if not repos:
        return Split([], [], {}, [])
    target = opts.val_fraction * total
    cap = opts.val_cap * total
    val: set[str] = {r for r in opts.held_out if r in size}
    repos_of_lang: dict[str, set[str]] = defaultdict(set)
    for repo, counter in langs.items():
        for lang in counter:
            repos_of_lang[lang].add(repo)

    def val_size() -> int:
        return sum(size[r] for r in val)

    def candidates() -> list[str]:
        rest = [r for r in repos if r not in val]
        return rest if len(rest) > 1 else []  # keep one repository for train

    if opts.val_fraction > 0:
        coverable = {lang for lang, rs in repos_of_lang.items() if len(rs) >= 2}
        while True:
            missing = coverable - {lang for r in val for lang in langs[r]}
            best, best_score = None, 0.0
            for repo in candidates():
                gain = len(missing & set(langs[repo]))
                if gain and val_size() + size[repo] <= cap:
                    score = gain / size[repo]
                    if score > best_score:
                        best, best_score = repo, score
            if best is None:
                break
            val.add(best)
        overall = _distribution(langs, repos)
        while val_size() < target:
            current = _distribution(langs, val)
            best, best_score = None, -math.inf
            for repo in candidates():
                if abs(val_size() + size[repo] - target) >= abs(val_size() - target):
                    continue
                mix = _distribution(langs, [repo])
                score = sum(share * (overall.get(lang, 0) - current.get(lang, 0)) for lang, share in mix.items())
                if score > best_score + 1e-12:
                    best, best_score = repo, score
            if best is None:
                break
            val.add(best)
    train = [r for r in sorted(size) if r not in val]
    train_langs = {lang for r in train for lang in langs[r]}
    val_langs = {lang for r in val for lang in langs[r]}
    uncovered = {}
    for lang in sorted(train_langs - val_langs):
        uncovered[lang] = (
            "only one repository has it" if len(repos_of_lang[lang]) < 2
            else "covering it would exceed the validation cap"
        )
    return Split(sorted(val), train, uncovered, sorted(val_langs - train_langs))


def _distribution(langs: dict[str, Counter], repos: Iterable[str]) -> dict[str, float]:
    counter: Counter = Counter()
    for repo in repos:
        counter.update(langs[repo])
    total = sum(counter.values()) or 1
    return {lang: n / total for lang, n in counter.items()}


def multiplicity(weight: float, seed: int, key: str) -> int:
    """Copies of a train example: floor(weight) plus one more with probability frac(weight),
    drawn from a hash of (seed, key). Above 1 this oversamples; below 1 it is a sampling rate."""
    whole = math.floor(weight)
    return whole + (1 if _uniform(seed, "weight", key) < weight - whole else 0)


# --- plan (no diff text needed: used for live counts) -----------------------------------

@dataclass
class Plan:
    selection: Selection
    split: Split
    rows: list[dict]  # per selected record: key, repo, split, languages, verdict, weight, copies

    def counts(self) -> dict:
        examples = Counter(r["split"] for r in self.rows)
        train_rows = sum(r["copies"] for r in self.rows if r["split"] == "train")
        by_verdict: dict[str, Counter] = defaultdict(Counter)
        by_lang: dict[str, Counter] = defaultdict(Counter)
        for r in self.rows:
            by_verdict[r["verdict"]][r["split"]] += 1
            for lang in r["languages"]:
                by_lang[lang][r["split"]] += 1
        return {
            "selected": len(self.rows),
            "excluded": dict(sorted(self.selection.excluded.items())),
            "train_examples": examples["train"],
            "val_examples": examples["val"],
            "train_rows_before_augmentation": train_rows,
            "val_fraction_actual": round(examples["val"] / len(self.rows), 4) if self.rows else 0.0,
            "by_verdict": {v: {"train": c["train"], "val": c["val"]} for v, c in sorted(by_verdict.items())},
            "by_language": {lang: {"train": c["train"], "val": c["val"]} for lang, c in sorted(by_lang.items())},
            "weighting": self.weighting(),
        }

    def weighting(self) -> dict:
        """What each verdict's weight did to train, in words: below 1 it samples, above 1 it repeats."""
        out = {}
        for verdict in sorted({r["verdict"] for r in self.rows if r["split"] == "train"}):
            rows = [r for r in self.rows if r["split"] == "train" and r["verdict"] == verdict]
            weight, n = rows[0]["weight"], len(rows)
            kept = sum(1 for r in rows if r["copies"])
            copies = sum(r["copies"] for r in rows)
            if weight == 0:
                text = f"{verdict} left out of train (weight 0, none of {n})"
            elif weight < 1:
                text = f"{verdict} sampled at {weight:g} ({kept} of {n})"
            elif weight == 1:
                text = f"{verdict} once each ({n})"
            else:
                text = f"{verdict} oversampled at {weight:g} ({copies} rows from {n})"
            out[verdict] = {"weight": weight, "train_examples": n, "train_examples_kept": kept,
                            "train_rows": copies, "text": text}
        return out


def plan(records: Iterable[dict], opts: ExportOptions, render: Callable[[dict], str | bytes] | None = None) -> Plan:
    selection = select(records, opts, render)
    split = split_repositories(selection.records, opts)
    val = set(split.val_repos)
    rows = []
    for rec in selection.records:
        ex = rec["example"]
        key = record_key(ex)
        repo = normalize_repo(ex["repo_url"])
        weight = opts.weights[rec.get("verdict", "unreviewed")]
        part = "val" if repo in val else "train"
        rows.append({
            "key": key, "repo": repo, "split": part, "languages": _languages(ex),
            "verdict": rec.get("verdict", "unreviewed"), "weight": weight,
            "copies": multiplicity(weight, opts.seed, key) if part == "train" else 1,
        })
    return Plan(selection, split, rows)


# --- truncation --------------------------------------------------------------------------

class Measure:
    """Length of a text in characters, and the character budget for a diff."""

    unit = "characters"

    def length(self, text: str) -> int:
        return len(text)

    def char_budget(self, text: str, budget: int) -> int:
        return budget


class TokenMeasure(Measure):
    """The same in tokens of a local tokenizer (the model's own, for a real token budget)."""

    unit = "tokens"

    def __init__(self, tokenizer_path: str):
        from transformers import AutoTokenizer  # heavy: only when asked for

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot load a tokenizer from {tokenizer_path}: {exc}") from None

    def length(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def char_budget(self, text: str, budget: int) -> int:
        """Characters covered by the first ``budget`` tokens."""
        if len(text) <= budget:  # a token is at least one character
            return budget
        offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        return len(text) if budget >= len(offsets) else offsets[budget][0]


def fit_diff(diff: str, budget: int, measure: Measure) -> tuple[str, bool]:
    """Cut a diff to the budget with the labeling prompt's own visible marker, so
    training rows look exactly like what evaluation and inference send."""
    return truncate_diff(diff, measure.char_budget(diff, budget))


# --- rendering ---------------------------------------------------------------------------

_HUNK_KEYS = ("hunks", "breaking_change")  # what a hunk-level label adds to a commit


def file_level(label: dict, example: dict) -> dict:
    """The label as the json-files target needs it: a hunk-level label names the files of its hunks."""
    if label.get("granularity") != "hunks":
        return label
    return {**label, **to_file_label(label, example_hunk_view(example))}


def assistant_content(label: dict) -> str:
    """The compact ``{"commits": [...], "gitignore": [...]}`` JSON, normalized by the parser's schema.
    The hunk-level keys a label may carry (a production label's ``hunks``) are not part of
    this format and are left out."""
    commits = label["commits"]
    if isinstance(commits, list):
        commits = [{k: v for k, v in c.items() if k not in _HUNK_KEYS} if isinstance(c, dict) else c
                   for c in commits]
    proposal = Proposal.from_dict({"commits": commits, "gitignore": label.get("gitignore") or []})
    return proposal.to_json()


def labeled_line(example: dict, label: dict) -> dict:
    """The user's labeled format (DESIGN.md): the example as labeled, noise fields, label."""
    out = {name: example[name] for name in HARVESTED_FIELDS}
    out["noise_injected"] = bool(label.get("noise_injected"))
    out["injected_files"] = list(label.get("injected_files") or [])
    out["label"] = {
        "commits": label["commits"],
        "gitignore": list(label.get("gitignore") or []),
        "model": label.get("model") or "",
        "usage": label.get("usage") or {},
    }
    if label.get("granularity") == "hunks":  # each commit's files and the tool's hunk ids, plus skipped_hunks
        out["label"].update(labeled_fields(label, example_hunk_view(example)))
    return out


_encode = json.encoder.encode_basestring  # what json_text does to a string (ensure_ascii=False)


def messages_line(messages: list[dict], encoded: dict[str, str]) -> str:
    """``json_text({"messages": messages}) + "\\n"`` byte for byte, each distinct system
    prompt (kilobytes, the same on most rows) encoded once through ``encoded``."""
    parts = []
    for m in messages:
        content = m["content"]
        if m["role"] == "system":
            text = encoded.get(content)
            if text is None:
                text = encoded[content] = _encode(content)
        else:
            text = _encode(content)
        parts.append('{"role":' + _encode(m["role"]) + ',"content":' + text + "}")
    return '{"messages":[' + ",".join(parts) + "]}\n"


def prompt_messages(example: dict, rec: dict, opts: ExportOptions) -> list[dict]:
    """System and user turns from the labeling issue's builders (never a copy of them)."""
    if opts.prompt == "short":
        return build_finetune_messages(list(example["changed_files"]), example["diff"])
    spec = PromptSpec(**rec["prompt"]) if rec.get("prompt") else DEFAULT_PROMPT
    return build_messages(example, spec)


def noisy_copy(example: dict, label: dict, key: str, seed: int) -> tuple[dict, dict] | None:
    """Junk files merged into the diff and their patterns added to the label's
    .gitignore (None when the catalogue has nothing left to inject)."""
    files = list(example["changed_files"])
    noise = make_noise(key, files, seed, probability=1.0, existing_gitignore=example.get("existing_gitignore") or ())
    if not noise.injected:
        return None
    noisy = dict(example)
    noisy["changed_files"], noisy["diff"] = apply_noise(files, example["diff"], noise)
    gitignore = list(label.get("gitignore") or [])
    noisy_label = dict(label)
    noisy_label["gitignore"] = gitignore + [p for p in noise.gitignore if p not in gitignore]
    noisy_label["noise_injected"] = True
    noisy_label["injected_files"] = list(label.get("injected_files") or []) + noise.files
    return noisy, noisy_label


# --- the whole export --------------------------------------------------------------------

@dataclass
class Result:
    plan: Plan
    manifest: dict
    files: dict[str, dict]  # name -> {"sha256", "bytes", "lines"}


def tool_conversation(example: dict, label: dict, spec: ProtocolSpec, opts: ExportOptions) -> dict:
    """The git-smart-commit record of one example; ValueError where the tool would refuse the label."""
    hunks = example_hunk_view(example, show_new_content=True) if opts.keep_new_content else None
    read = opts.read_new_files or label.get("saw_new_content", True)
    return tool_export.tool_record(example, label, spec=spec, read_new_files=read, hunks=hunks)


def _tool_length(record: dict, measure: Measure) -> int:
    """The conversation's length: every message's content and every tool call's arguments."""
    total = 0
    for m in record["messages"]:
        total += measure.length(m.get("content") or "")
        for call in m.get("tool_calls") or ():
            total += measure.length(call["function"]["arguments"])
    return total


def protocol_info(spec: ProtocolSpec, version_id: int | None = None) -> dict:
    """What the manifest says about the protocol a git-smart-commit export was rendered with."""
    return {"id": version_id, "content_hash": spec.content_hash, "source": spec.source,
            "captured": spec.source == "captured", "tool_name": spec.tool_name, "tool_commit": spec.tool_commit,
            "note": spec.note if spec.source != "captured" else ""}


def choose_system_prompt(spec: ProtocolSpec, info: dict, text: str,
                         prompt_version: int | None = None) -> tuple[ProtocolSpec, dict]:
    """The spec with the chosen system prompt, and its manifest entry flagged as differing from
    what the tool sends (``captured`` still says where the tools and replies came from)."""
    chosen = replace(spec, system_prompt=text, source="chosen", note=CHOSEN_NOTE)
    return chosen, {**info, "content_hash": chosen.content_hash, "source": "chosen", "note": CHOSEN_NOTE,
                    "system_prompt": "chosen", "system_prompt_from": prompt_version,
                    "system_prompt_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def export(records: Iterable[dict], opts: ExportOptions, out_dir: str,
           progress: Callable[[int, int], None] | None = None, spec: ProtocolSpec | None = None,
           protocol: dict | None = None) -> Result:
    """Write train.jsonl, val.jsonl, labeled.jsonl and manifest.json into ``out_dir``.

    The git-smart-commit target renders with ``spec`` (the built-in one when none is given);
    ``protocol`` is its manifest entry (``protocol_info``, ``choose_system_prompt`` where the options
    chose the system prompt)."""
    tool = opts.target == TOOL_TARGET
    if opts.system_prompt_from and (protocol or {}).get("system_prompt") != "chosen":
        raise ValueError("system_prompt_from: the chosen system prompt was not applied to the spec "
                         "(labeling.export.services.resolve_target does)")
    spec = spec or BUILTIN
    rendered: dict[str, dict] = {}  # key -> the tool record of the chosen label

    def render(rec: dict) -> bytes:
        record = tool_conversation(rec["example"], rec["label"], spec, opts)
        line = tool_export.record_bytes(record)
        rendered.setdefault(record_key(rec["example"]), {})[line] = record
        return line

    the_plan = plan(records, opts, render if tool else None)
    measure: Measure = TokenMeasure(opts.tokenizer) if opts.tokenizer else Measure()
    diff_budget = opts.max_diff_tokens if opts.tokenizer else opts.max_diff_chars
    by_key = {record_key(r["example"]): r for r in the_plan.selection.records}
    val_digests = {
        _diff_digest(by_key[row["key"]]) for row in the_plan.rows if row["split"] == "val"
    }
    # Lines are text (json-files) or UTF-8 bytes (the tool target's, and labeled.jsonl's).
    train_lines: list[tuple[int, str, str | bytes]] = []  # (order hash, key, line)
    val_lines: list[str | bytes] = []
    labeled_lines: list[bytes] = []
    provenance: list[dict] = []
    over_budget: list[dict] = []
    leaks_dropped: list[str] = []
    truncated = augmented_rows = 0
    encoded_prompts: dict[str, str] = {}
    total = len(the_plan.rows)
    for done, row in enumerate(the_plan.rows, 1):
        if progress:
            progress(done, total)
        rec = by_key[row["key"]]
        ex, label = rec["example"], rec["label"]
        labeled_lines.append(json_bytes(labeled_line(ex, label)) + b"\n")
        prov = {
            "key": row["key"], "label_id": label.get("id"), "teacher": rec.get("teacher"),
            "prompt_version": rec.get("prompt_version"), "verdict": row["verdict"],
            "weight": row["weight"], "split": row["split"], "rows": 0, "augmented_rows": 0,
            "truncated": False,
        }
        if rec.get("repaired"):
            prov["repaired"] = rec["repaired"]  # a data repair changed this label (see the page's note)
        provenance.append(prov)
        train = row["split"] == "train"
        if train and not row["copies"]:
            continue  # a weight below 1 drew no copy
        if train and _diff_digest(rec) in val_digests:
            leaks_dropped.append(row["key"])  # the same diff under another repository (fork, mirror)
            prov["dropped"] = "diff also in validation"
            continue
        variants = [(ex, label)]
        augment = tool_export.with_junk if tool else noisy_copy
        for i in range(opts.augment if train else 0):
            copy = augment(ex, label, row["key"], _hash_int(opts.seed, "augment", i) % 2**31)
            if copy is not None:
                variants.append(copy)
        for vi, (vex, vlabel) in enumerate(variants):
            if tool:
                answer = the_plan.selection.answers[row["key"]]
                if vi == 0:
                    record, line = rendered[row["key"]][answer], answer
                else:
                    try:
                        record = tool_conversation(vex, vlabel, spec, opts)
                    except ValueError:
                        continue  # the junk copy breaks what the label rests on: the row stays unaugmented
                    line = tool_export.record_bytes(record)
                if opts.max_total:
                    length = _tool_length(record, measure)
                    if length > opts.max_total:
                        over_budget.append({"key": row["key"], "variant": vi, "length": length,
                                            "budget": opts.max_total, "unit": measure.unit})
                        continue
            else:
                line = _files_line(vex, vlabel, vi, rec, row, opts, the_plan, diff_budget, measure, prov,
                                   over_budget, encoded_prompts)
                if line is None:
                    continue
            if not train:
                val_lines.append(line)
                prov["rows"] += 1
                continue
            for copy in range(row["copies"]):
                train_lines.append((_hash_int(opts.seed, "order", row["key"], vi, copy), row["key"], line))
            if vi:
                prov["augmented_rows"] += row["copies"]
                augmented_rows += row["copies"]
            else:
                prov["rows"] += row["copies"]
        truncated += prov["truncated"]
    train_lines.sort(key=lambda t: (t[0], t[1]))
    os.makedirs(out_dir, exist_ok=True)
    files = {
        "train.jsonl": _write(out_dir, "train.jsonl", (t[2] for t in train_lines)),
        "val.jsonl": _write(out_dir, "val.jsonl", val_lines),
        "labeled.jsonl": _write(out_dir, "labeled.jsonl", labeled_lines),
    }
    manifest = _manifest(the_plan, opts, files, provenance, {
        "train_rows": len(train_lines), "val_rows": len(val_lines), "augmented_rows": augmented_rows,
        "truncated_examples": truncated, "truncation_unit": measure.unit, "over_budget": over_budget,
        "dropped_train_duplicates_of_val": sorted(leaks_dropped),
        "repaired_labels": [{"key": p["key"], "label_id": p["label_id"], "note": p["repaired"]}
                            for p in provenance if p.get("repaired")],
    })
    manifest["target"] = opts.target
    manifest["protocol"] = (protocol or protocol_info(spec)) if tool else None
    text = _manifest_text(manifest)
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    data = text.encode("utf-8")
    all_files = {**files, "manifest.json": {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                                            "lines": text.count("\n")}}
    return Result(the_plan, manifest, all_files)


def _files_line(vex: dict, vlabel: dict, vi: int, rec: dict, row: dict, opts: ExportOptions, the_plan: Plan,
               diff_budget: int, measure: Measure, prov: dict, over_budget: list, encoded_prompts: dict) -> str | None:
    """A json-files row (None when over the whole-conversation budget, which is reported)."""
    diff, was_cut = fit_diff(vex["diff"], diff_budget, measure)
    prov["truncated"] = prov["truncated"] or was_cut
    messages = prompt_messages({**vex, "diff": diff}, rec, opts)
    answer = the_plan.selection.answers[row["key"]] if vi == 0 else assistant_content(file_level(vlabel, vex))
    messages.append({"role": "assistant", "content": answer})
    if opts.max_total:
        length = sum(measure.length(m["content"]) for m in messages)
        if length > opts.max_total:
            over_budget.append({"key": row["key"], "variant": vi, "length": length,
                                "budget": opts.max_total, "unit": measure.unit})
            return None
    return messages_line(messages, encoded_prompts)


def _manifest_text(manifest: dict) -> str:
    """Indented JSON with one line per provenance record (the C encoder: fast for 10,000 records)."""
    head = json.dumps({k: v for k, v in manifest.items() if k != "records"}, ensure_ascii=False, indent=1,
                      sort_keys=True)
    records = ",\n  ".join(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in manifest["records"])
    return head[: head.rindex("}")].rstrip() + ',\n "records": [\n  ' + records + "\n ]\n}\n"


def _write(out_dir: str, name: str, lines: Iterable[str | bytes]) -> dict:
    """Write JSONL lines (text, or UTF-8 bytes as the tool target renders them) in chunks of
    a few megabytes, hashing as it goes: the file's sha256, size and line count."""
    digest = hashlib.sha256()
    count = size = 0
    chunk: list[bytes] = []
    pending = 0
    with open(os.path.join(out_dir, name), "wb") as fh:
        for line in lines:
            data = line if isinstance(line, bytes) else line.encode("utf-8")
            chunk.append(data)
            pending += len(data)
            count += 1
            if pending >= WRITE_CHUNK:
                block = b"".join(chunk)
                digest.update(block)
                fh.write(block)
                size += len(block)
                chunk, pending = [], 0
        block = b"".join(chunk)
        digest.update(block)
        fh.write(block)
        size += len(block)
    return {"sha256": digest.hexdigest(), "bytes": size, "lines": count}


def _manifest(the_plan: Plan, opts: ExportOptions, files: dict, provenance: list[dict], extra: dict) -> dict:
    counts = the_plan.counts()
    counts.update({k: v for k, v in extra.items() if k in ("train_rows", "val_rows", "augmented_rows",
                                                              "truncated_examples")})
    rows_by_key = {p["key"]: p for p in provenance}
    repos: dict[str, dict] = {}
    for row in the_plan.rows:
        entry = repos.setdefault(row["repo"], {"split": row["split"], "examples": 0, "rows": 0})
        entry["examples"] += 1
        prov = rows_by_key[row["key"]]
        entry["rows"] += prov["rows"] + prov["augmented_rows"]
    langs: dict[str, dict] = {}
    for row in the_plan.rows:
        prov = rows_by_key[row["key"]]
        for lang in row["languages"]:
            entry = langs.setdefault(lang, {"train_examples": 0, "val_examples": 0, "train_rows": 0, "val_rows": 0})
            entry[f"{row['split']}_examples"] += 1
            entry[f"{row['split']}_rows"] += prov["rows"] + prov["augmented_rows"]
    return {
        "format": "gsctune-sft-export/1",
        "options": opts.to_dict(),
        "weights": dict(opts.weights),
        "counts": counts,
        "files": files,
        "languages": langs,
        "repositories": dict(sorted(repos.items())),
        "split": {
            "train_repositories": the_plan.split.train_repos,
            "val_repositories": the_plan.split.val_repos,
            "languages_not_in_val": the_plan.split.uncovered,
            "languages_only_in_val": the_plan.split.val_only,
        },
        "truncation": {"unit": extra["truncation_unit"], "truncated_examples": extra["truncated_examples"]},
        "over_budget": extra["over_budget"],
        "dropped_train_duplicates_of_val": extra["dropped_train_duplicates_of_val"],
        "invalid_labels": the_plan.selection.invalid,
        "repaired_labels": extra.get("repaired_labels", []),
        "records": provenance,
    }
