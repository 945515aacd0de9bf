"""Import of harvested (and labeled) JSONL files: one implementation for the
upload view, the ``import_examples`` command and the Celery task.

The file is streamed line by line (never held whole in memory), valid lines are
inserted in batches, and each bad line is reported with its number and reason.
A line is validated completely before anything of it is written, so a bad line
never leaves a partial row.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from gsctune.domain.diffs import diff_paths, remove_files
from gsctune.domain.hunk_proposal import example_hunk_view, read_labeled
from gsctune.domain.records import HARVEST_FIELDS, example_key

from ..labels import store_labels
from ..models import Example, ImportJob, Label

BATCH_SIZE = 1000
MAX_STORED_PROBLEMS = 500


class BadLine(ValueError):
    """A line that cannot be imported; the message is shown to the user."""


class NothingImported(ValueError):
    """A file without one valid line (an image, a text file): the import job ends as failed."""


@dataclass
class ImportReport:
    lines: int = 0
    imported: int = 0
    already_present: int = 0
    labels_imported: int = 0
    warnings: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)
    bad_count: int = 0

    def add_bad(self, line: int, reason: str) -> None:
        self.bad_count += 1
        if len(self.bad) < MAX_STORED_PROBLEMS:
            self.bad.append((line, reason))

    def summary(self) -> str:
        text = f"{self.imported} imported, {self.already_present} already present, {self.bad_count} bad"
        if self.labels_imported:
            text += f", {self.labels_imported} labels imported"
        if self.warnings:
            text += f", {self.warnings} with warnings"
        return text


def _require(record: dict, name: str, kind: type, item_kind: type | None = None):
    if name not in record:
        raise BadLine(f"missing field '{name}'")
    value = record[name]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise BadLine(f"field '{name}' must be {kind.__name__}, got {type(value).__name__}")
    if item_kind is not None:
        for index, item in enumerate(value):
            if not isinstance(item, item_kind):
                raise BadLine(f"field '{name}[{index}]' must be {item_kind.__name__}, got {type(item).__name__}")
    return value


def _validate_commits(commits: list, where: str) -> None:
    for index, commit in enumerate(commits):
        if not isinstance(commit, dict):
            raise BadLine(f"{where}[{index}] must be an object")
        for name, kind in (("sha", str), ("subject", str), ("files", list)):
            if where == "label.commits" and (name == "sha" or name == "files" and "hunks" in commit):
                continue  # a hunk-level commit may name its hunks only
            if not isinstance(commit.get(name), kind):
                raise BadLine(f"{where}[{index}].{name} missing or not {kind.__name__}")
        if not all(isinstance(f, str) for f in commit.get("files", [])):
            raise BadLine(f"{where}[{index}].files must be a list of strings")


def parse_example(record: object) -> dict:
    """Validate one harvested object; return the Example field values."""
    if not isinstance(record, dict):
        raise BadLine(f"expected a JSON object, got {type(record).__name__}")
    values = {
        "repo_url": _require(record, "repo_url", str),
        "branch": _require(record, "branch", str),
        "base_commit": _require(record, "base_commit", str),
        "head_commit": _require(record, "head_commit", str),
        "n_commits": _require(record, "n_commits", int),
        "diff": _require(record, "diff", str),
        "changed_files": _require(record, "changed_files", list, str),
        "original_commits": _require(record, "original_commits", list),
        "existing_gitignore": _require(record, "existing_gitignore", list, str),
        "languages": _require(record, "languages", list, str),
    }
    for name in ("repo_url", "base_commit", "head_commit"):
        if not values[name].strip():
            raise BadLine(f"field '{name}' is empty")
    if values["n_commits"] < 1:
        raise BadLine("field 'n_commits' must be at least 1")
    _validate_commits(values["original_commits"], "original_commits")
    if "\x00" in values["diff"]:
        raise BadLine("field 'diff' contains a NUL character")
    return values


def parse_label(record: dict) -> dict | None:
    """The imported label of a labeled-format line, or None for a harvested line."""
    if "label" not in record:
        return None
    label = record["label"]
    if not isinstance(label, dict):
        raise BadLine("field 'label' must be an object")
    commits = label.get("commits")
    if not isinstance(commits, list):
        raise BadLine("label.commits missing or not a list")
    _validate_commits(commits, "label.commits")
    for index, commit in enumerate(commits):
        if not isinstance(commit.get("body", ""), str):
            raise BadLine(f"label.commits[{index}].body must be a string")
        if not isinstance(commit.get("issues", []), list):
            raise BadLine(f"label.commits[{index}].issues must be a list")
    gitignore = label.get("gitignore", [])
    if not isinstance(gitignore, list) or not all(isinstance(p, str) for p in gitignore):
        raise BadLine("label.gitignore must be a list of strings")
    usage = label.get("usage") or {}
    if not isinstance(usage, dict):
        raise BadLine("label.usage must be an object")
    injected = record.get("injected_files", [])
    if not isinstance(injected, list) or not all(isinstance(p, str) for p in injected):
        raise BadLine("field 'injected_files' must be a list of strings")
    noise = record.get("noise_injected", bool(injected))
    if not isinstance(noise, bool):
        raise BadLine("field 'noise_injected' must be a boolean")
    granularity, skipped = "files", []
    if "skipped_hunks" in label or any("hunks" in c for c in commits):
        hunk_level, errors = read_labeled(label, example_hunk_view(record))
        if errors:
            raise BadLine("; ".join(errors))
        granularity, commits, skipped = "hunks", hunk_level["commits"], hunk_level["skipped_hunks"]
    return {
        "commits": commits,
        "gitignore": gitignore,
        "granularity": granularity,
        "skipped_hunks": skipped,
        "model": str(label.get("model") or ""),
        "usage": usage,
        "noise_injected": noise,
        "injected_files": injected,
    }


def _strip_noise(values: dict, label: dict | None) -> str:
    """Move injected junk out of the example so the Example holds the real change."""
    if not label or not label["injected_files"]:
        return ""
    injected = set(label["injected_files"])
    values["diff"], noise_diff = remove_files(values["diff"], injected)
    values["changed_files"] = [f for f in values["changed_files"] if f not in injected]
    return noise_diff


def consistency_warnings(values: dict) -> list[str]:
    in_diff = set(diff_paths(values["diff"]))
    listed = set(values["changed_files"])
    warnings = []
    if listed - in_diff:
        missing = sorted(listed - in_diff)
        warnings.append(f"changed_files lists {len(missing)} path(s) with no diff section: {', '.join(missing[:5])}")
    if in_diff - listed:
        extra = sorted(in_diff - listed)
        warnings.append(f"diff has {len(extra)} path(s) not in changed_files: {', '.join(extra[:5])}")
    return warnings


def iter_lines(handle, max_bytes: int):
    """Yield (line number, bytes or None if too long) without reading a long line whole."""
    number = 0
    while True:
        line = handle.readline(max_bytes + 1)
        if not line:
            return
        number += 1
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # skip the rest of the oversized line
                line = handle.readline(1 << 20)
            yield number, None
            continue
        yield number, line


def _count_lines(path: Path) -> int:
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def decode_line(raw: bytes) -> object:
    try:
        return orjson.loads(raw)  # fast path; on any error the stdlib says precisely what is wrong
    except orjson.JSONDecodeError:
        pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine(f"not valid UTF-8 (byte {exc.start})") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        # The stdlib's message may end in "at" ("Invalid control character at"): not "at at column".
        raise BadLine(f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}") from None
    try:  # what the stdlib accepts beyond orjson: big numbers, or text no database can store
        orjson.dumps(record)
    except (orjson.JSONEncodeError, TypeError) as exc:
        if "surrogates" in str(exc):
            raise BadLine("text holds an unpaired UTF-16 surrogate (a lone \\udXXX escape)") from None
        raise BadLine(f"unsupported JSON value: {exc}") from None
    return record


class _Batch:
    """Validated rows waiting to be written, BATCH_SIZE at a time, each batch in one transaction."""

    def __init__(self, report: ImportReport):
        self.report = report
        self.rows: dict[str, tuple[dict, dict | None, str]] = {}

    def add(self, values: dict, label: dict | None, noise_diff: str) -> None:
        key = values["key"]
        if key in self.rows:  # the same example twice in one batch: the first wins
            self.report.already_present += 1
            return
        self.rows[key] = (values, label, noise_diff)
        if len(self.rows) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        rows, self.rows = self.rows, {}
        if not rows:
            return
        report = self.report
        with transaction.atomic():
            existing = set(Example.objects.filter(key__in=list(rows)).values_list("key", flat=True))
            new = [values for key, (values, _, _) in rows.items() if key not in existing]
            _insert_examples(new)
            report.imported += len(new)
            report.already_present += len(existing)
            report.warnings += sum(1 for values in new if values["warnings"])
            labeled = {key: (label, noise) for key, (_, label, noise) in rows.items() if label}
            if labeled:
                report.labels_imported += _store_labels(labeled)


_JSON_COLUMNS = {"changed_files", "original_commits", "existing_gitignore", "languages", "warnings"}


_COLUMNS = (*HARVEST_FIELDS, "key", "diff_chars", "n_files", "languages_text", "warnings")


def _row_params(values: dict) -> list:
    """The INSERT parameters of one example (JSON columns encoded), made on the reading side."""
    return [orjson.dumps(values[c]).decode() if c in _JSON_COLUMNS else values[c] for c in _COLUMNS]


def _insert_examples(rows: list[dict]) -> None:
    """Insert validated example rows with one executemany.

    The import's hot path: going around the ORM's per-value preparation makes the
    import several times faster on large files. A key inserted meanwhile by a
    concurrent import is skipped (ON CONFLICT), never duplicated.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = [*_COLUMNS, "imported_at"]
    sql = (
        f"INSERT INTO {quote(Example._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT ({quote('key')}) DO NOTHING"
    )
    stamp = Example._meta.get_field("imported_at").get_db_prep_save(timezone.now(), connection)
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[*row["params"], stamp] for row in rows])


def _store_labels(labeled: dict[str, tuple[dict, str]]) -> int:
    ids = dict(Example.objects.filter(key__in=list(labeled)).values_list("key", "id"))
    have = {
        (example_id, model, json.dumps(commits, sort_keys=True))
        for example_id, model, commits in Label.objects.filter(
            example_id__in=ids.values(), source=Label.Source.IMPORTED
        ).values_list("example_id", "model", "commits")
    }
    new = []
    for key, (label, noise_diff) in labeled.items():
        signature = (ids[key], label["model"], json.dumps(label["commits"], sort_keys=True))
        if signature in have:
            continue
        have.add(signature)
        new.append(Label(example_id=ids[key], source=Label.Source.IMPORTED, noise_diff=noise_diff, **label))
    examples = Example.objects.in_bulk([label.example_id for label in new])
    for label in new:  # the checks read the example
        label.example = examples[label.example_id]
    store_labels(new)
    return len(new)


def import_examples_file(path: Path, progress=None) -> ImportReport:
    """Import one JSONL file of harvested or labeled examples. See the module docstring."""
    report = ImportReport()
    max_bytes = settings.IMPORT_MAX_LINE_BYTES
    if progress:
        progress.set_total(_count_lines(path))
    batch = _Batch(report)
    with path.open("rb") as handle:
        for number, raw in iter_lines(handle, max_bytes):
            report.lines = number
            try:
                if raw is None:
                    raise BadLine(f"line longer than {max_bytes} bytes (IMPORT_MAX_LINE_BYTES)")
                if not raw.strip():
                    raise BadLine("empty line")
                record = decode_line(raw)
                values = parse_example(record)
                label = parse_label(record)
            except BadLine as exc:
                report.add_bad(number, str(exc))
                if progress:
                    progress.advance(done=0, failed=1)
                continue
            noise_diff = _strip_noise(values, label)
            values["key"] = example_key(values["repo_url"], values["base_commit"], values["head_commit"])
            values["diff_chars"] = len(values["diff"])
            values["n_files"] = len(values["changed_files"])
            values["languages_text"] = f" {' '.join(values['languages'])} "  # padded: filter on " lang "
            values["warnings"] = consistency_warnings(values)
            values["params"] = _row_params(values)
            batch.add(values, label, noise_diff)
            if progress:
                progress.advance()
                if number % BATCH_SIZE == 0:
                    progress.raise_if_cancelled()
    batch.flush()
    return report


def create_import_job(path: Path, original_name: str, user=None, enqueue: bool = True) -> ImportJob:
    job = ImportJob.objects.create(source_path=str(path), original_name=original_name, created_by=user)
    if enqueue:
        job.enqueue()
    return job


def save_upload(uploaded) -> Path:
    """Store an uploaded file under the data directory, streaming it in chunks."""
    folder = Path(settings.UPLOADS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{uuid.uuid4().hex}-{Path(uploaded.name).name}"
    with target.open("wb") as out:
        for chunk in uploaded.chunks():
            out.write(chunk)
    return target


def run_import_job(job: ImportJob, progress) -> None:
    path = Path(job.source_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist or is not a file")
    report = import_examples_file(path, progress)
    job.imported, job.already_present = report.imported, report.already_present
    job.bad_lines, job.labels_imported, job.warnings_count = report.bad_count, report.labels_imported, report.warnings
    job.problems = [{"line": line, "reason": reason} for line, reason in report.bad]
    valid = report.imported + report.already_present
    if valid:
        job.status_message = report.summary()
    else:  # failed, not a green "Succeeded" that imported nothing
        job.status_message = f"0 imported, {report.bad_count} bad line{'' if report.bad_count == 1 else 's'}"
    job.save(update_fields=["imported", "already_present", "bad_lines", "labels_imported", "warnings_count", "problems", "status_message"])
    if not valid:
        first = f" (line {report.bad[0][0]}: {report.bad[0][1]})" if report.bad else ""
        raise NothingImported(f"{job.status_message}: the file has no valid line{first}" if report.lines
                              else "0 imported: the file is empty")
