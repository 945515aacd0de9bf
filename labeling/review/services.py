"""Review queue, verdicts, corrections and the quality gate.

Views, commands and tasks call these functions; they hold the rules:

* every non-human label has a ``ReviewItem`` (queue columns, gate rank, lease);
* ``next_item`` hands each reviewer a different item: the lease is taken with a
  conditional UPDATE, which is atomic on SQLite and re-checked under the row
  lock on PostgreSQL, so two concurrent requests can never both win one row;
* a correction is a new ``Label`` (source human, ``revision_of`` the original);
* the gate estimate uses only the fully reviewed prefix of the seeded random
  order, so it stays a uniform random sample even when triage reviews
  flagged labels out of order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from gsctune.domain.checks import CHECK_TITLES
from gsctune.domain.hunks import example_hunks
from gsctune.domain.metrics import grouping_scores
from gsctune.domain.stats import wilson
from gsctune.leases import Leases

from ..labels import refresh_labels, store_label
from ..models import Example, Label, Review, ReviewItem
from ..models.examples import language_q

QUEUES = {
    "gate": "Gate sample (seeded random order)",
    "triage": "Triage (flagged first)",
    "all": "All labels",
    "second": "Second opinion (reviewed once by someone else)",
}
VERDICTS = [v for v in Review.Verdict.values if v != Review.Verdict.SKIP]


LEASES = Leases(ReviewItem, "REVIEW_LEASE_SECONDS")


# --------------------------------------------------------------------------- findings and items


# --------------------------------------------------------------------------- queues and leases


@dataclass
class QueueFilter:
    queue: str = "gate"
    teacher: str = ""
    prompt: str = ""
    check: str = ""
    language: str = ""
    repo: str = ""
    verdict: str = ""  # "", "none", or a verdict

    @classmethod
    def from_query(cls, data) -> QueueFilter:
        f = cls(**{k: (data.get(k) or "").strip() for k in cls.__dataclass_fields__})
        if f.queue not in QUEUES:
            f.queue = "gate"
        if f.verdict not in ("", "none", *VERDICTS):
            f.verdict = ""
        return f

    def as_query(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}


def queue_items(f: QueueFilter, user=None):
    """Items of a queue in its order. Without a verdict filter only items still to review."""
    items = ReviewItem.objects.all()
    if f.teacher:
        items = items.filter(teacher=f.teacher)
    if f.prompt:
        items = items.filter(prompt=f.prompt)
    if f.check:
        items = items.filter(checks__contains=f" {f.check} ")
    if f.language:
        items = items.filter(language_q(f.language, prefix="example__"))
    if f.repo:
        items = items.filter(example__repo_url=f.repo)
    if f.queue == "second":
        items = items.filter(n_reviewers=1)
        if user is not None:
            items = items.exclude(pk__in=Review.objects.filter(reviewer=user).values("label_id"))
    elif f.verdict == "none" or (not f.verdict and user is not None):
        items = items.filter(verdict="")
    if f.verdict and f.verdict != "none":
        items = items.filter(verdict=f.verdict)
    if user is not None and not f.verdict:
        # A reviewer who skipped an item is not offered it again; others are.
        items = items.exclude(
            pk__in=Review.objects.filter(reviewer=user, verdict=Review.Verdict.SKIP).values("label_id")
        )
    order = {
        "gate": ("gate_rank", "label_id"),
        "triage": ("-n_findings", "gate_rank", "label_id"),
    }.get(f.queue, ("label_id",))
    return items.order_by(*order)


def next_item(user, f: QueueFilter, exclude=()) -> ReviewItem | None:
    """Lease and return the reviewer's next item, or None when the queue is empty.

    A lease the reviewer already holds (a reload, or the prefetched next item) is
    returned again. Otherwise the first free candidates are tried in order with a
    conditional UPDATE; losing a race just moves on to the next candidate.
    """
    now = timezone.now()
    items = queue_items(f, user).exclude(label_id__in=list(exclude))
    if f.verdict and f.verdict != "none":
        # Revisiting reviewed labels: each once, not the one just re-reviewed again and again.
        items = items.exclude(pk__in=Review.objects.filter(reviewer=user).values("label_id"))
    # The few leases this reviewer holds, by the leased_by index, then checked against the queue.
    held_pks = list(LEASES.held_by(user, now).values_list("pk", flat=True)[:50])
    held = items.filter(pk__in=held_pks).first() if held_pks else None
    if held is not None:
        ReviewItem.objects.filter(pk=held.pk).update(lease_expires=LEASES.until(now))
        return held
    for _ in range(5):
        candidates = list(items.filter(LEASES.free(user, now))[:8])
        if not candidates:
            return None
        for candidate in candidates:
            until = LEASES.take(candidate.pk, user, now)
            if until:
                candidate.leased_by, candidate.lease_expires = user, until
                return candidate
    return None


def release_lease(user, label_id: int) -> None:
    LEASES.release(ReviewItem.objects.filter(pk=label_id), user)


# --------------------------------------------------------------------------- verdicts


class ReviewError(ValueError):
    """A verdict or correction that cannot be stored; the message says why."""


class LabelNotFound(ReviewError):
    """The label of a verdict does not exist (the page answers 404)."""


class LeaseConflict(ReviewError):
    """Another reviewer holds the label's lease (the page answers 409 and shows the message)."""


def _lock_item(label_id: int) -> None:
    """Take the queue row's write lock before reading Review rows in this transaction.

    A no-op UPDATE: PostgreSQL holds the row lock to the commit, so a second verdict on the
    same label waits and its later statements see the first one's rows; SQLite's IMMEDIATE
    transactions serialize writers anyway.
    """
    ReviewItem.objects.filter(pk=label_id).update(n_reviewers=F("n_reviewers"))


def _refresh_item(label_id: int) -> None:
    """Latest non-skip verdict and number of distinct reviewers, from the Review rows, in one UPDATE."""
    counted = Review.objects.filter(label_id=OuterRef("pk")).exclude(verdict=Review.Verdict.SKIP)
    ReviewItem.objects.filter(pk=label_id).update(
        verdict=Coalesce(Subquery(counted.order_by("-id").values("verdict")[:1]), Value("")),
        n_reviewers=Coalesce(
            Subquery(counted.order_by().values("label_id").annotate(n=Count("reviewer_id", distinct=True))
                     .values("n")[:1]),
            Value(0),
        ),
    )


def clean_correction(data: dict, label: Label) -> dict:
    """Validate an edited proposal from the review page into the label dict.

    ``data`` is ``{"commits": [{"type", "scope", "description", "breaking", "bang_first", "body",
    "files", "issues"}], "gitignore": [...]}``; errors name the commit they are about. ``bang_first``
    keeps a breaking subject written ``type!(scope):`` in that form.
    """
    if not isinstance(data, dict) or not isinstance(data.get("commits"), list):
        raise ReviewError("correction must have a list of commits")
    hunk_level = "skipped_hunks" in data or any(isinstance(c, dict) and "hunks" in c for c in data["commits"])
    if hunk_level:
        hunk_file = {h.id: h.file for h in example_hunks(label.diff)}
        _check_coverage(data, hunk_file)
    known = set(label.changed_files)
    commits, seen = [], set()
    for n, raw in enumerate(data["commits"], 1):
        if not isinstance(raw, dict):
            raise ReviewError(f"commit {n}: not an object")
        ctype = str(raw.get("type") or "").strip()
        scope = str(raw.get("scope") or "").strip()
        desc = str(raw.get("description") or "").strip()
        hunks = [str(h) for h in raw.get("hunks") or []] if hunk_level else []
        files = (list(dict.fromkeys(hunk_file[h] for h in hunks)) if hunk_level
                 else [str(p) for p in raw.get("files") or []])
        if not files:
            continue  # a commit emptied by moving its files (or hunks) away disappears
        if not ctype or not desc:
            raise ReviewError(f"commit {n}: type and description are required")
        unknown = [p for p in files if p not in known]
        if unknown:
            raise ReviewError(f"commit {n}: {unknown[0]} is not a changed file")
        twice = [p for p in files if p in seen]
        if twice and not hunk_level:  # at hunk level a file may be split across commits
            raise ReviewError(f"commit {n}: {twice[0]} is already in another commit")
        seen.update(files)
        body = str(raw.get("body") or "").replace("\r\n", "\n").strip()
        issues = raw.get("issues") if isinstance(raw.get("issues"), list) else []
        bang = "!" if raw.get("breaking") else ""
        head = f"{ctype}{bang}({scope})" if scope and bang and raw.get("bang_first") else (
            f"{ctype}({scope}){bang}" if scope else f"{ctype}{bang}")
        subject = f"{head}: {desc}"
        commit = {"subject": subject, "files": files, "body": body, "issues": issues}
        if hunk_level:
            commit["hunks"] = hunks
        commits.append(commit)
    if not commits:
        raise ReviewError("correction has no commit with files")
    gitignore = data.get("gitignore") or []
    if isinstance(gitignore, str):
        gitignore = gitignore.splitlines()
    gitignore = [str(line).strip() for line in gitignore if str(line).strip()]
    for n, line in enumerate(gitignore, 1):
        if any(marker in line for marker in ("{{", "}}", "{%", "%}")):
            # What a broken page once sent (migration 0004 repairs those): never store it again.
            raise ReviewError(f".gitignore line {n}: {line!r} is page template text, not a pattern")
    cleaned = {"commits": commits, "gitignore": gitignore}
    if hunk_level:
        cleaned["skipped_hunks"] = [h for h in hunk_file if h in set(map(str, data.get("skipped_hunks") or []))]
    return cleaned


def _check_coverage(data: dict, hunk_file: dict[str, str]) -> None:
    """The hunk-level rule: every hunk of the diff in exactly one commit or skipped; errors name the hunks."""
    skipped = data.get("skipped_hunks") or []
    if not isinstance(skipped, list):
        raise ReviewError("skipped_hunks must be a list of hunk ids")
    places: dict[str, list[str]] = defaultdict(list)
    for n, raw in enumerate(data["commits"], 1):
        hunks = raw.get("hunks") if isinstance(raw, dict) else None
        if hunks is not None and not isinstance(hunks, list):
            raise ReviewError(f"commit {n}: hunks must be a list of hunk ids")
        for h in hunks or []:
            places[str(h)].append(f"commit {n}")
    for h in skipped:
        places[str(h)].append("skipped")
    unknown = [h for h in places if h not in hunk_file]
    if unknown:
        raise ReviewError(f"not hunks of this diff: {', '.join(unknown)}")
    twice = [f"{h} ({' and '.join(where)})" for h, where in places.items() if len(where) > 1]
    if twice:
        raise ReviewError(f"hunks in more than one place: {', '.join(twice)}")
    missing = [h for h in hunk_file if h not in places]
    if missing:
        raise ReviewError(f"hunks in no commit and not skipped: {', '.join(missing)}")


def hunk_revision_fields(cleaned: dict) -> dict:
    """The new Label's skipped hunks and granularity when the correction was made at hunk level."""
    if "skipped_hunks" not in cleaned:
        return {}
    return {"skipped_hunks": cleaned["skipped_hunks"], "granularity": "hunks"}


def record_verdict(
    user,
    label_id: int,
    verdict: str,
    *,
    reasons=(),
    note: str = "",
    seconds: float = 0.0,
    correction: dict | None = None,
    token: str = "",
) -> Review:
    """Store one verdict (and for ``correct`` the new human revision); frees the lease.

    ``token`` (chosen by the page once per verdict) makes a repeat harmless: the stored
    review is returned with ``repeated`` set. A label leased by someone else is refused
    with :class:`LeaseConflict`; a free one is taken.
    """
    if verdict not in Review.Verdict.values:
        raise ReviewError(f"unknown verdict {verdict!r}")
    reasons = list(dict.fromkeys(reasons or ()))
    bad = [r for r in reasons if r not in Review.Reason.values]
    if bad:
        raise ReviewError(f"unknown reason {bad[0]!r}")
    if verdict == Review.Verdict.REJECT and not reasons:
        raise ReviewError("a rejection needs at least one reason")
    label = Label.objects.select_related("example").filter(pk=label_id).first()
    if label is None:
        raise LabelNotFound(f"label {label_id} does not exist")
    if label.source == Label.Source.HUMAN:
        raise ReviewError("human corrections are not reviewed again")
    cleaned = clean_correction(correction or {}, label) if verdict == Review.Verdict.CORRECT else None
    seconds = min(max(float(seconds or 0), 0.0), 3600.0)
    token = str(token or "")[:64]
    with transaction.atomic():
        _lock_item(label.pk)
        if token:
            repeat = Review.objects.filter(label=label, reviewer=user, token=token).first()
            if repeat is not None:
                repeat.repeated = True
                return repeat
        holder = LEASES.holder(label.pk, user)
        if holder is not None:
            raise LeaseConflict(
                f"{holder.get_username()} is reviewing label {label.pk} right now, so your verdict was not saved; "
                "carry on with the next label."
            )
        revision = None
        if cleaned is not None:
            revision = store_label(Label(
                example=label.example,
                source=Label.Source.HUMAN,
                model=f"human:{user.get_username()}",
                commits=cleaned["commits"],
                gitignore=cleaned["gitignore"],
                noise_injected=label.noise_injected,
                injected_files=list(label.injected_files or []),
                noise_diff=label.noise_diff,
                revision_of=label,
                **hunk_revision_fields(cleaned),
            ))
        review = Review.objects.create(
            label=label,
            reviewer=user,
            verdict=verdict,
            reasons=reasons if verdict == Review.Verdict.REJECT else [],
            note=(note or "").strip(),
            correction=revision,
            seconds_spent=seconds,
            token=token,
        )
        _refresh_item(label.pk)
        release_lease(user, label.pk)
    review.repeated = False
    return review


def undo_last(user) -> Review | None:
    """Remove the reviewer's latest verdict (and its correction); returns it with ``leased`` set.

    The label goes back to the undoer only when it is free or already theirs (``leased``
    True): a label another reviewer has leased meanwhile stays with them.
    """
    with transaction.atomic():
        review = Review.objects.filter(reviewer=user).order_by("-id").select_for_update().first()
        if review is None:
            return None
        _lock_item(review.label_id)
        if review.correction_id:
            Label.objects.filter(pk=review.correction_id).delete()
        review.delete()
        _refresh_item(review.label_id)
        leased = LEASES.take(review.label_id, user)
    review.leased = bool(leased)
    return review


def latest_verdicts(label_ids=None) -> dict[int, Review]:
    """The counting (latest non-skip) review per label, for export and reports."""
    reviews = Review.objects.exclude(verdict=Review.Verdict.SKIP).order_by("label_id", "id")
    if label_ids is not None:
        reviews = reviews.filter(label_id__in=list(label_ids))
    return {r.label_id: r for r in reviews}


# --------------------------------------------------------------------------- review page data


def similarity_to_original(label: Label) -> dict:
    """Grouping agreement between the label and the original human commits (pairwise F1, ARI)."""
    example = label.example
    junk = set(label.injected_files or [])
    universe = sorted(set(example.changed_files) - junk)
    scores = grouping_scores(label.commits or [], example.original_commits or [], universe)
    return {"pair_f1": scores.get("pair_f1"), "ari": scores.get("ari")}


# --------------------------------------------------------------------------- quality gate


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa for two raters' labels; None without pairs, 1.0 for total chance-free agreement."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    ca, cb = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1 - expected)


@dataclass
class GateStats:
    teacher: str
    prompt: str
    labeled: int = 0
    reviewed: int = 0  # verdicts in the gate prefix (the unbiased sample)
    reviewed_any: int = 0  # verdicts anywhere
    accepted: int = 0
    rejected: int = 0
    corrected: int = 0
    rate: float | None = None
    lo: float | None = None
    hi: float | None = None
    passed: bool = False
    reasons: list[tuple[str, int]] = field(default_factory=list)
    check_rates: list[tuple[str, str, float]] = field(default_factory=list)
    kappa: float | None = None
    double_reviewed: int = 0
    tokens_per_example: float | None = None
    cost_per_example: float | None = None
    latency_per_example: float | None = None
    projected_cost: float | None = None
    seconds_per_review: float | None = None
    # Where the counted prefix ends: the first label in gate order without a verdict, and why.
    stop_label: int | None = None
    stop_reason: str = ""
    beyond: int = 0  # verdicts after the stop: they count once the prefix reaches them
    # The fewest more gate reviews that can pass, and how many of those may be rejects or corrections.
    more_needed: int | None = None
    more_not_accepted: int = 0

    @property
    def remaining(self) -> int:
        """Labels not yet in the counted prefix."""
        return self.labeled - self.reviewed


def gate_rule() -> tuple[int, float]:
    return settings.REVIEW_GATE_MIN_REVIEWED, settings.REVIEW_GATE_MIN_LOWER


def _cost(usage: dict, prices) -> float | None:
    """Cost of one label from its token usage and the run's (else the teacher's) prices per million."""
    price_in, price_out = prices
    if price_in is None or price_out is None:
        return None
    tokens_in, tokens_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(tokens_in, int) or not isinstance(tokens_out, int):
        return None
    return (tokens_in * float(price_in) + tokens_out * float(price_out)) / 1_000_000


def _tokens(usage: dict) -> float | None:
    total = usage.get("total_tokens")
    if isinstance(total, (int, float)) and not isinstance(total, bool):
        return float(total)
    parts = [usage.get(k) for k in ("prompt_tokens", "completion_tokens")]
    parts = [p for p in parts if isinstance(p, (int, float)) and not isinstance(p, bool)]
    return float(sum(parts)) if parts else None


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def reviews_to_pass(accepted: int, reviewed: int, remaining: int) -> tuple[int, int] | None:
    """Fewest more reviews (of ``remaining`` labels) that can meet the pass rule, and how many of
    them may then be other than accepted; None when even all accepted cannot pass."""
    min_reviewed, min_lower = gate_rule()
    for more in range(remaining + 1):
        total = reviewed + more
        if total < min_reviewed or wilson(accepted + more, total)[0] < min_lower:
            continue
        allowed = 0
        while allowed < more and wilson(accepted + more - allowed - 1, total)[0] >= min_lower:
            allowed += 1
        return more, allowed
    return None


def _stop_reasons(label_ids: list[int]) -> dict[int, str]:
    """Why each of these labels has no verdict: skipped (by whom), being reviewed now, or not yet."""
    skipped: dict[int, list[str]] = defaultdict(list)
    for label_id, name in (Review.objects.filter(label_id__in=label_ids, verdict=Review.Verdict.SKIP)
                           .order_by("id").values_list("label_id", "reviewer__username")):
        if name not in skipped[label_id]:
            skipped[label_id].append(name)
    leased = dict(ReviewItem.objects.filter(pk__in=label_ids, lease_expires__gt=timezone.now())
                  .exclude(leased_by__isnull=True).values_list("pk", "leased_by__username"))
    out = {}
    for label_id in label_ids:
        if label_id in leased:
            out[label_id] = f"{leased[label_id]} is reviewing it now"
        elif skipped[label_id]:
            out[label_id] = f"skipped by {', '.join(skipped[label_id])}; review it to count further"
        else:
            out[label_id] = "not reviewed yet; review it to count further"
    return out


def gate_stats(teacher: str = "", prompt: str = "") -> list[GateStats]:
    """One column per (teacher, prompt version), optionally narrowed to one teacher/prompt."""
    items = ReviewItem.objects.all()
    if teacher:
        items = items.filter(teacher=teacher)
    if prompt:
        items = items.filter(prompt=prompt)
    rows = list(
        items.order_by("gate_rank", "label_id").values_list(
            "teacher", "prompt", "label_id", "verdict", "checks", "label__usage", "label__latency_ms",
            "label__run__price_input_per_million", "label__run__price_output_per_million",
            "label__teacher__price_input_per_million", "label__teacher__price_output_per_million",
        )
    )
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for row in rows:
        groups[(row[0], row[1])].append(row)
    reviews = list(
        Review.objects.filter(label_id__in=items.values("pk"))
        .exclude(verdict=Review.Verdict.SKIP)
        .order_by("id")
        .values_list("label_id", "reviewer_id", "verdict", "reasons", "seconds_spent")
    )
    by_label: dict[int, list] = defaultdict(list)
    for r in reviews:
        by_label[r[0]].append(r)
    n_examples = Example.objects.count()
    min_reviewed, min_lower = gate_rule()
    out = []
    for (t, p), group in sorted(groups.items()):
        s = GateStats(teacher=t, prompt=p, labeled=len(group))
        prefix = []
        for row in group:
            if not row[3]:
                break
            prefix.append(row)
        s.reviewed = len(prefix)
        s.reviewed_any = sum(1 for row in group if row[3])
        counts = Counter(row[3] for row in prefix)
        s.accepted, s.rejected, s.corrected = counts["accept"], counts["reject"], counts["correct"]
        if s.reviewed:
            s.rate = s.accepted / s.reviewed
            s.lo, s.hi = wilson(s.accepted, s.reviewed)
        s.passed = s.reviewed >= min_reviewed and s.lo is not None and s.lo >= min_lower
        if s.reviewed < len(group):
            s.stop_label = group[s.reviewed][2]
            s.beyond = s.reviewed_any - s.reviewed
        if not s.passed:
            need = reviews_to_pass(s.accepted, s.reviewed, len(group) - s.reviewed)
            if need is not None:
                s.more_needed, s.more_not_accepted = need
        reasons = Counter()
        seconds = []
        for row in prefix:
            latest = by_label[row[2]][-1]
            if latest[2] == Review.Verdict.REJECT:
                reasons.update(latest[3])
            seconds.extend(r[4] for r in by_label[row[2]])
        labels_by_reason = dict(Review.Reason.choices)
        s.reasons = [(labels_by_reason.get(k, k), v) for k, v in reasons.most_common()]
        s.seconds_per_review = _mean(seconds)
        check_counts = Counter(name for row in group for name in row[4].split())
        s.check_rates = [
            (name, CHECK_TITLES.get(name, name), check_counts[name] / len(group))
            for name in CHECK_TITLES
            if check_counts[name]
        ]
        # Agreement: the latest verdicts of the first two reviewers of each item.
        pairs = []
        for row in group:
            per_reviewer = {}
            for r in by_label[row[2]]:
                per_reviewer[r[1]] = r[2]
            if len(per_reviewer) >= 2:
                first, second = list(per_reviewer.values())[:2]
                pairs.append((first, second))
        s.double_reviewed = len(pairs)
        s.kappa = cohen_kappa(pairs)
        s.tokens_per_example = _mean(_tokens(row[5] or {}) for row in group)
        s.cost_per_example = _mean(
            _cost(row[5] or {}, row[7:9] if row[7] is not None else row[9:11]) for row in group
        )
        s.latency_per_example = _mean(row[6] / 1000 if row[6] is not None else None for row in group)
        if s.cost_per_example is not None:
            s.projected_cost = s.cost_per_example * n_examples
        out.append(s)
    reasons_by_label = _stop_reasons([s.stop_label for s in out if s.stop_label is not None])
    for s in out:
        s.stop_reason = reasons_by_label.get(s.stop_label, "")
    return out


def facets() -> dict[str, list[str]]:
    """Values for the queue filter menus."""
    items = ReviewItem.objects
    examples = Example.objects.filter(pk__in=items.values("example_id")).facets()
    return {
        "teachers": list(items.order_by("teacher").values_list("teacher", flat=True).distinct()),
        "prompts": list(items.exclude(prompt="").order_by("prompt").values_list("prompt", flat=True).distinct()),
        "repos": examples["repos"],
        "languages": examples["languages"],
        "checks": list(CHECK_TITLES.items()),
    }


# --------------------------------------------------------------------------- repaired labels


@dataclass
class RecheckResult:
    labels: int = 0  # repaired human labels re-checked
    items: int = 0  # queue rows of the labels they correct, refreshed
    findings: int = 0  # automatic-check findings on the repaired labels now


def recheck_repaired_labels() -> RecheckResult:
    """Re-run the checks of labels a data repair changed, and the review rows of what they correct.

    Migration 0004 edits JSON without app code, so stored findings and queue columns of those
    labels were computed from the broken patterns; this brings them up to date.
    """
    out = RecheckResult()
    repaired = Label.objects.filter(repaired_at__isnull=False).select_related("example")
    for label in repaired.iterator(chunk_size=200):
        with transaction.atomic():
            refresh_labels([label])
            out.labels += 1
            out.findings += len(label.findings or [])
            original = label.revision_of
            if original is not None and original.source != Label.Source.HUMAN:
                refresh_labels([original])
                _refresh_item(original.pk)
                out.items += 1
    return out
