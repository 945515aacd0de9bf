"""Rule-based offline baseline labeler, and an OpenAI-compatible server for it.

Not a teacher: a floor for evaluation to beat and a way to run the whole
pipeline offline. It groups files by component (top directory, or the
package directory under src/lib/pkg/...), keeps tests with the code they test
and lockfiles with their manifests, infers the type from paths and the diff,
and routes known junk to ``.gitignore``.
"""

from __future__ import annotations

import json
import posixpath
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gsctune.domain.diffs import FileDiff, split_diff
from gsctune.domain.noise import junk_pattern_for
from gsctune.domain.prompts import parse_user_turn
from gsctune.domain.proposal import Commit, Issue, Proposal

BASELINE_MODEL = "gsctune-baseline"

LOCK_MANIFESTS = {
    "package-lock.json": "package.json", "yarn.lock": "package.json", "pnpm-lock.yaml": "package.json",
    "npm-shrinkwrap.json": "package.json", "Cargo.lock": "Cargo.toml", "go.sum": "go.mod",
    "poetry.lock": "pyproject.toml", "uv.lock": "pyproject.toml", "Pipfile.lock": "Pipfile",
    "mix.lock": "mix.exs", "Gemfile.lock": "Gemfile", "composer.lock": "composer.json",
}
MANIFESTS = set(LOCK_MANIFESTS.values()) | {
    "requirements.txt", "setup.py", "setup.cfg", "build.zig", "build.zig.zon", "CMakeLists.txt", "Makefile",
    "meson.build", "rebar.config",
}
AMBIGUOUS_JUNK = {"build/", "*.o"}  # also real paths in some repositories: junk only when binary
DOC_EXTS = {".md", ".rst", ".txt", ".adoc"}
DOC_NAMES = {"README", "CHANGELOG", "CHANGES", "HISTORY", "LICENSE", "AUTHORS", "CONTRIBUTING", "NEWS", "COPYING"}
CONTAINER_DIRS = {"src", "lib", "pkg", "internal", "cmd", "app", "apps", "packages", "crates"}
TEST_DIRS = {"test", "tests", "spec", "specs", "__tests__", "testdata", "t"}
_TODO_RE = re.compile(r"^\+.*\b(TODO|FIXME|XXX)\b[:\s]*(.{0,60})", re.MULTILINE)
_DEBUG_RE = re.compile(r"^\+\s*(print\(|console\.log\(|dbg!\(|fmt\.Println\(\"DEBUG|IO\.inspect\()", re.MULTILINE)
_FIX_RE = re.compile(r"\b(fix(es|ed)?|bug|crash|regression|incorrect|wrong|panic)\b", re.IGNORECASE)


@dataclass
class Group:
    kind: str  # code, test, docs, ci, build
    scope: str
    files: list[str] = field(default_factory=list)


def parse_changes(files: list[str], diff: str) -> dict[str, FileDiff]:
    """Every listed file (unchanged text for one the diff lacks) and every file in the diff."""
    changes = {f: FileDiff(f, f, "", 0, 0, False, "modified") for f in files}
    changes.update((fd.path, fd) for fd in split_diff(diff))
    return changes


def _stem(path: str) -> str:
    name = posixpath.basename(path)
    stem = name.split(".")[0]
    for prefix in ("test_", "tests_"):
        if stem.startswith(prefix):
            stem = stem[len(prefix):]
    for suffix in ("_test", "_tests", "_spec", ".test", ".spec", "Test", "Tests"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem.lower()


def is_test(path: str) -> bool:
    parts = path.lower().split("/")
    name = parts[-1]
    return (any(p in TEST_DIRS for p in parts[:-1]) or name.startswith("test_")
            or re.search(r"(_test|_spec|\.test|\.spec)\.[a-z]+$", name) is not None)


def is_doc(path: str) -> bool:
    name = posixpath.basename(path)
    root, ext = posixpath.splitext(name)
    return (ext.lower() in DOC_EXTS and not name.startswith("requirements")) or root.upper() in DOC_NAMES \
        or path.startswith(("docs/", "doc/"))


def is_ci(path: str) -> bool:
    return path.startswith((".github/", ".gitlab-ci", ".circleci/", ".travis.yml", "appveyor.yml", ".cirrus.yml",
                            "azure-pipelines.yml", ".buildkite/"))


def is_build(path: str) -> bool:
    name = posixpath.basename(path)
    return name in MANIFESTS or name in LOCK_MANIFESTS or name.startswith("requirements") and name.endswith(".txt")


def component(path: str) -> str:
    """The scope a file belongs to: package dir under src/lib/..., else top directory, else the file stem."""
    parts = [p for p in path.split("/") if p]
    dirs = [p for p in parts[:-1] if p.lower() not in TEST_DIRS]
    while dirs and dirs[0].lower() in CONTAINER_DIRS and len(dirs) > 1:
        dirs = dirs[1:]
    if dirs:
        return dirs[0]
    if parts and parts[0].lower() in CONTAINER_DIRS | TEST_DIRS:
        return _stem(path) or parts[0]
    return _stem(path) or "root"


def _scope_name(raw: str) -> str:
    scope = re.sub(r"[^a-z0-9_.-]+", "-", raw.lower().lstrip(".")).strip("-")
    return scope[:24]


def group_files(files: list[str]) -> list[Group]:
    groups: dict[tuple[str, str], Group] = {}

    def add(kind: str, scope: str, path: str) -> None:
        groups.setdefault((kind, scope), Group(kind, scope)).files.append(path)

    code_by_stem: dict[str, str] = {}
    for f in files:
        if not (is_test(f) or is_doc(f) or is_ci(f) or is_build(f)):
            code_by_stem.setdefault(_stem(f), component(f))
    manifests_present = {posixpath.basename(f): f for f in files if posixpath.basename(f) in MANIFESTS}
    for f in files:
        name = posixpath.basename(f)
        if is_ci(f):
            add("ci", "", f)
        elif is_build(f):
            manifest = LOCK_MANIFESTS.get(name)
            anchor = manifest if manifest in manifests_present else name
            add("build", anchor, f)
        elif is_test(f):
            owner = code_by_stem.get(_stem(f))
            if owner is not None:
                add("code", owner, f)
            else:
                add("test", component(f), f)
        elif is_doc(f):
            add("docs", "", f)
        else:
            add("code", component(f), f)
    return list(groups.values())


def _type_for(group: Group, changes: dict[str, FileDiff]) -> str:
    if group.kind in ("ci", "docs", "test"):
        return group.kind
    if group.kind == "build":
        return "build"
    chs = [changes[f] for f in group.files if f in changes]
    if chs and all(c.status == "added" for c in chs):
        return "feat"
    added = sum(c.additions for c in chs)
    removed = sum(c.deletions for c in chs)
    text = "\n".join(c.text for c in chs)
    if removed > 2 * max(1, added) or all(c.status in ("renamed", "deleted") for c in chs):
        return "refactor"
    if _FIX_RE.search(text[:20000]) and added + removed < 60:
        return "fix"
    if any(c.status == "added" for c in chs):
        return "feat"
    return "fix" if added + removed <= 10 else "feat"


def _describe(ctype: str, group: Group, changes: dict[str, FileDiff]) -> str:
    files = group.files
    if len(files) == 1:
        ch = changes.get(files[0])
        verb = {"added": "add", "deleted": "remove", "renamed": "rename"}.get(ch.status if ch else "", "update")
        return f"{verb} {posixpath.basename(files[0])}"
    if ctype == "build":
        return "update dependencies" if any(posixpath.basename(f) in LOCK_MANIFESTS for f in files) \
            else "update build configuration"
    if ctype == "ci":
        return "update workflows"
    if ctype == "docs":
        return "update documentation"
    if ctype == "test":
        return "update tests"
    verb = {"feat": "extend", "fix": "correct", "refactor": "restructure"}.get(ctype, "update")
    return f"{verb} {len(files)} files"


def _issues(group: Group, changes: dict[str, FileDiff]) -> list[Issue]:
    issues: list[Issue] = []
    for f in group.files:
        text = changes[f].text if f in changes else ""
        m = _TODO_RE.search(text)
        if m:
            issues.append(Issue(f"adds a {m.group(1)}: {m.group(2).strip() or 'unfinished work'}", f))
        if _DEBUG_RE.search(text):
            issues.append(Issue("adds what looks like a debug print", f))
    return issues[:3]


_ORDER = {"build": 0, "code": 1, "test": 2, "ci": 3, "docs": 4}


def label(files: list[str], diff: str) -> Proposal:
    """The baseline proposal for a working tree."""
    files = list(dict.fromkeys(f for f in files if f))
    changes = parse_changes(files, diff)
    if not files:
        files = [p for p in changes if p]
    gitignore: list[str] = []
    kept: list[str] = []
    for f in files:
        pattern = junk_pattern_for(f)
        change = changes.get(f)
        # Only new files are junk: a tracked file under build/ is real work.
        if pattern and change is not None and change.status == "added" and (
                pattern not in AMBIGUOUS_JUNK or "\nBinary files " in change.text):
            if pattern not in gitignore:
                gitignore.append(pattern)
        else:
            kept.append(f)
    groups = sorted(group_files(kept), key=lambda g: (_ORDER[g.kind], g.scope))
    commits: list[Commit] = []
    for g in groups:
        ctype = _type_for(g, changes)
        if g.kind in ("ci", "docs"):
            scope = ""
        elif g.kind == "build":
            scope = "deps" if any(posixpath.basename(f) in LOCK_MANIFESTS for f in g.files) else ""
        else:
            scope = _scope_name(g.scope)
        description = _describe(ctype, g, changes)
        subject_len = len(ctype) + (len(scope) + 2 if scope else 0) + 2
        if subject_len + len(description) > 72:
            description = description[: 72 - subject_len].rstrip()
        commits.append(Commit(type=ctype, scope=scope, description=description, files=g.files,
                              body="", issues=_issues(g, changes)))
    if not commits:  # only junk: nothing to commit, still a valid answer shape
        commits.append(Commit(type="chore", scope="", description="ignore generated files",
                              files=[".gitignore"], body=""))
    return Proposal(commits=commits, gitignore=gitignore)


# -- hunk-level requests (git-smart-commit's hunk list) -----------------------------------

HUNK_LIST_HEADING = "Available hunks:"  # hunks.RenderTexts.hunks_heading
_HUNK_LINE_RE = re.compile(r"^  (.+?::\d+)  (\(new untracked file\)|\[binary file\]|\(\+\d+/-\d+\))$")
_SECTION_RE = re.compile(r"^--- (.+?::\d+) ---$", re.MULTILINE)


def _hunk_path(hunk_id: str) -> str:
    return hunk_id.rsplit("::", 1)[0]


def parse_hunk_turn(user: str) -> tuple[list[tuple[str, str]], str]:
    """The (hunk id, tag) pairs of a hunk-level user turn, and a diff rebuilt from its sections
    (one header per file, untracked files as empty new files) for the file-level rules."""
    listing, _, content = user.partition("\nDiff content:\n")
    hunks = [(m.group(1), m.group(2)) for m in map(_HUNK_LINE_RE.match, listing.splitlines()) if m]
    parts = _SECTION_RE.split(content)
    sections = dict(zip(parts[1::2], parts[2::2]))
    texts: dict[str, str] = {}
    for hunk_id, tag in hunks:
        path = _hunk_path(hunk_id)
        if tag == "(new untracked file)":
            texts[path] = f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            continue
        text = sections.get(hunk_id, "").strip("\n") + "\n"
        if path in texts and not text.startswith("@@"):  # a later hunk: its header is already there
            at = text.find("\n@@")
            text = text[at + 1:] if at >= 0 else ""
        texts[path] = texts.get(path, "") + text
    return hunks, "".join(texts.values())


def hunk_answer(user: str) -> dict:
    """The baseline's hunk-level answer: its file-level grouping, each file's hunks in its
    commit, junk files' hunks in ``skipped_hunks``."""
    hunks, diff = parse_hunk_turn(user)
    ids_of: dict[str, list[str]] = {}
    for hunk_id, _ in hunks:
        ids_of.setdefault(_hunk_path(hunk_id), []).append(hunk_id)
    proposal = label(list(ids_of), diff)
    commits, placed = [], set()
    for commit in proposal.commits:
        ids = [h for f in commit.files for h in ids_of.get(f, [])]
        if ids:
            placed.update(ids)
            commits.append({"subject": commit.subject, "hunks": ids, "body": commit.body, "breaking_change": "",
                            "issues": [i.to_dict() for i in commit.issues]})
    skipped = [h for h, _ in hunks if h not in placed]
    if not commits and skipped:  # only junk: the answer still needs a commit
        commits, skipped = [{"subject": "chore: add generated files", "hunks": skipped, "body": "",
                             "breaking_change": "", "issues": []}], []
    return {"commits": commits, "gitignore": list(proposal.gitignore), "skipped_hunks": skipped}


# -- OpenAI-compatible server ---------------------------------------------------------

def answer_chat(request: dict) -> dict:
    """A chat.completion response for the baseline's three kinds of request.

    A request of git-smart-commit's loop (it carries ``tools``), or one of the loop's side
    calls (summaries: neither a hunk list nor a ``Changed files:`` turn), is answered by the
    tool-calling baseline, so the protocol can be evaluated offline over HTTP; a turn that
    lists the tool's hunks gets the hunk-level JSON answer; build_user_turn's the file-level one.
    """
    messages = request.get("messages") or []
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    hunk_turn = next((u for u in reversed(users) if u.startswith(HUNK_LIST_HEADING)), "")
    user = next((u for u in reversed(users) if u.startswith("Changed files:")), "")
    if request.get("tools") or not (hunk_turn or user):
        from gsctune.domain.baseline_protocol import chat_completion  # it imports this module

        return chat_completion(request)
    if hunk_turn:
        content = json.dumps(hunk_answer(hunk_turn), ensure_ascii=False, separators=(",", ":"))
    else:
        files, diff, _ = parse_user_turn(user)
        content = label(files, diff).to_json()
    prompt_tokens = sum(len(str(m.get("content") or "")) for m in messages) // 4 + 1
    completion_tokens = len(content) // 4 + 1
    return {
        "id": f"baseline-{time.time_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": BASELINE_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


class JSONHandler(BaseHTTPRequestHandler):
    """Answers with JSON over keep-alive HTTP/1.1 (the baseline's server, and test servers)."""

    protocol_version = "HTTP/1.1"  # keep-alive, so clients reuse connections

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Handler(JSONHandler):
    """The baseline labeler's OpenAI-compatible routes."""

    def do_GET(self):  # noqa: N802
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": BASELINE_MODEL, "object": "model"}]})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        path = self.path.rstrip("/")
        if not path.endswith(("/chat/completions", "/api/chat")):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            request = json.loads(raw)
            response = answer_chat(request)
            if path.endswith("/api/chat"):  # native Ollama: the message alone, arguments as objects
                response = _ollama_shape(response)
        except (ValueError, TypeError, AttributeError) as exc:
            self._send(400, {"error": {"message": f"cannot label this request: {exc}", "type": "invalid_request_error"}})
            return
        self._send(200, response)


def _ollama_shape(response: dict) -> dict:
    message = dict(response["choices"][0]["message"])
    if message.get("tool_calls"):
        message["tool_calls"] = [{"function": {"name": c["function"]["name"],
                                               "arguments": json.loads(c["function"]["arguments"])}}
                                 for c in message["tool_calls"]]
    return {"model": response["model"], "message": message, "done": True}


class BaselineServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> None:
        super().__init__((host, port), _Handler)
        self.verbose = verbose

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="baseline-server", daemon=True)
        thread.start()
        return thread
