"""Evaluate a candidate model inside git-smart-commit's loop, the tool's side played here.

``run_protocol_episode`` drives ``ToolSession`` (the tool's exact replies, nudges,
warnings, turn limit and terminal-only last turn) against a candidate, and adds what
the tool does to the conversation in ``steropes/client.py`` (``LLMClient.agentic_loop``;
fiddlerwoaroof/git-smart-commit, commit in PROTOCOL.md):

* a tool result over 125 tokens (emit_commit's replies excepted) is replaced by a
  summary the candidate itself writes in a side request without tools; the original
  stays in a message store (ids ``m0``, ``m1``, … in append order, summaries included)
  that query_message answers from;
* between turns, after a tool result: past the soft threshold a compaction of the
  oldest large messages starts "in the background" (its summaries are swapped in at the
  next between-turn point); past the hard threshold it blocks until under it. The
  first user message keeps everything before ``Diff content:`` verbatim;
* summaries escalate as the tool's do: a summary, a shorter one if that was not
  shorter than the original, else the first 512 characters.

Tokens are characters / 4 unless ``count_tokens`` (sync or async, e.g. an endpoint's
``/tokenize``) is given. Every sentence the candidate reads here that the tool writes
in its own words (summary prompts, "not available" answers) is gsctune's wording.
Investigation tools are answered from the harvested example where it has the answer,
and every answer is recorded with where it came from.
"""
from __future__ import annotations

import asyncio
import inspect
import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field

import aiohttp

from gsctune.domain.hunks import FileDiff, Hunk, split_diff, tool_view
from gsctune.domain.protocol import (
    BUILTIN,
    EMIT,
    OLLAMA_NUM_CTX,
    SUMMARIZE_OVER_TOKENS,
    TERMINAL,
    ProtocolSpec,
    ToolSession,
)

# (soft, hard) compaction thresholds in tokens per simulated backend. Checked against the script
# `git-smart-commit` at c2f41fbd: CONTEXT_SOFT/HARD_THRESHOLD 50_000/75_000 and OLLAMA_SOFT/HARD_THRESHOLD
# 3_500/5_000, picked in main() by ApiConfig.is_ollama (no "/v1" in the base URL), in tokens (/tokenize,
# else chars / 4); compaction_preserve_marker "Diff content:\n" keeps the hunk list whole.
THRESHOLDS = {"v1": (50_000, 75_000), "ollama": (3_500, 5_000)}
RECENT_TOOL_TOKENS = 2_500  # the newest tool result stays whole up to this size (RECENT_TOOL_RESULT_CHARS, tokens)
SUMMARY_INPUT_CHARS = 20_000  # slice of the original the summary request sees (TOOL_RESULT_SUMMARIZE_INPUT)
TRUNCATE_CHARS = 512  # the last summary level keeps this much of the original
QUERY_INPUT_CHARS = 50_000
READ_FILE_LIMIT = 50_000
GET_DIFF_LIMIT = 6_000  # get_diff cuts its answer at DIFF_CHARS_PER_FILE
UNSTAGED_LABEL = "=== unstaged ===\n"  # get_diff's section label when staged is omitted (the staged one is empty)
SEARCH_MATCH_LIMIT = 50
GIT_LOG_CAP = 50
OUTCOMES = ("finalized", "out_of_turns", "crashed", "error")

Candidate = Callable[[dict], Awaitable[dict]]  # request body (less model) -> assistant message


@dataclass(frozen=True)
class EvalTexts:
    """gsctune's own words for what the evaluation side writes (the tool's formats kept)."""

    summary_hint: str = "query_message answers questions about the original text."
    summary_prompt: str = ("Write a two-to-four sentence digest of the tool output below. Name the files and the "
                           "changes, and quote any code that looks wrong exactly.\n\n{content}")
    summary_prompt_short: str = ("Shrink the text below to at most three one-line bullets keeping file names and "
                                 "identifiers.\n\n{content}")
    truncated_note: str = "\n[cut here; query_message has the rest]"
    query_prompt: str = ("Full text of stored message '{msg_id}':\n\n{content}\n\nQuestion: {question}\n\n"
                         "Answer briefly from that text alone.")
    query_unknown: str = "There is no stored message '{msg_id}'. Recent ids: {ids}"
    not_available: str = "{name}: not available in this evaluation ({why})."
    read_file_cut: str = "\n[file cut at {limit:,} characters]"
    no_changes: str = "No changes to {path} in this change set."
    get_diff_cut: str = "\n[diff cut at {limit:,} characters]"
    no_matches: str = "No line of the changes matches {pattern!r}."
    bad_pattern: str = "search_diff: {pattern!r} is not a valid regular expression ({error})."
    search_cut: str = "[more matches left out after {limit}]"


TEXTS = EvalTexts()


class CandidateError(RuntimeError):
    """The candidate could not answer (transport failure, unreadable response)."""


# ── the episode's result ─────────────────────────────────────────────────────────

@dataclass
class EpisodeResult:
    """Everything one episode produced; ``to_dict()`` is JSON-ready for storage."""

    outcome: str  # one of OUTCOMES
    reason: str
    backend: str
    hunk_ids: list[str]
    max_turns: int
    commits: list[dict]  # accepted emit_commit commits, in order (hunk ids)
    skipped_hunks: list[str]
    gitignore: list[str]
    counters: dict[str, int]
    transcript: list[dict]
    investigations: list[dict]
    spec_hash: str
    wall_s: float = 0.0  # the episode's wall time, side requests and the tool's work included
    request_latencies: list[float] = field(default_factory=list)  # seconds per candidate request, in order

    @property
    def finalized(self) -> bool:
        return self.outcome == "finalized"

    def to_dict(self) -> dict:
        return asdict(self)


# ── answers from the example ─────────────────────────────────────────────────────

def _new_content(f: FileDiff) -> str:
    """A new file's text, rebuilt from its added lines."""
    lines = []
    for hunk in f.hunks:
        for line in hunk.body.split("\n")[1:]:
            if line.startswith("+"):
                lines.append(line[1:])
    return "\n".join(lines) + ("\n" if lines else "")


@dataclass
class ExampleAnswers:
    """Answers the investigation tools from a harvested diff; ``log`` records each one."""

    files: Sequence[FileDiff]
    git_log: Sequence[str] | None = None
    texts: EvalTexts = TEXTS
    log: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_path: dict[str, FileDiff] = {}
        for f in self.files:
            self.by_path.setdefault(f.path, f)
            self.by_path.setdefault(f.old_path, f)

    def answer(self, name: str, args: dict, turn: int) -> str:
        text, source = getattr(self, "_" + name)(**args)
        self.log.append({"turn": turn, "tool": name, "arguments": args, "answered": source, "chars": len(text)})
        return text

    def _na(self, name: str, why: str) -> tuple[str, str]:
        return self.texts.not_available.format(name=name, why=why), "not_available"

    def _read_file(self, path: str) -> tuple[str, str]:
        f = self.by_path.get(path)
        if f is None or f.status != "added" or f.path != path:
            return self._na("read_file", "only new files' content is in the harvested diff")
        if f.binary:
            return self._na("read_file", "binary file")
        content = _new_content(f)
        if len(content) > READ_FILE_LIMIT:
            content = content[:READ_FILE_LIMIT] + self.texts.read_file_cut.format(limit=READ_FILE_LIMIT)
        return content, "example"

    def _get_diff(self, path: str, staged: bool | None = None) -> tuple[str, str]:
        """As the tool answers after unstaging everything: nothing staged, a new file (untracked
        there) has no diff, and both sections asked for label the unstaged one; cut at 6,000."""
        f = self.by_path.get(path)
        if staged or f is None or (f.status == "added" and f.path == path):
            return self.texts.no_changes.format(path=path), "example"
        text = f.text if staged is False else UNSTAGED_LABEL + f.text
        if len(text) > GET_DIFF_LIMIT:
            text = text[:GET_DIFF_LIMIT] + self.texts.get_diff_cut.format(limit=GET_DIFF_LIMIT)
        return text, "example"

    def _search_diff(self, pattern: str, context_lines: int = 2) -> tuple[str, str]:
        try:
            regex = re.compile(pattern)
        except re.error as error:
            return self.texts.bad_pattern.format(pattern=pattern, error=error), "example"
        context = max(0, int(context_lines))
        blocks: list[str] = []
        for f in self.files:
            if f.status == "added":
                continue  # untracked in the tool's working tree: not in `git diff`, which it searches
            lines = f.text.split("\n")
            for number, line in enumerate(lines):
                if not regex.search(line):
                    continue
                if len(blocks) == SEARCH_MATCH_LIMIT:
                    blocks.append(self.texts.search_cut.format(limit=SEARCH_MATCH_LIMIT))
                    return "\n\n".join(blocks), "example"
                lo, hi = max(0, number - context), min(len(lines), number + context + 1)
                shown = "\n".join(f"{'>' if i == number else ' '} {lines[i]}" for i in range(lo, hi))
                blocks.append(f"{f.path} (diff line {number + 1}):\n{shown}")
        if not blocks:
            return self.texts.no_matches.format(pattern=pattern), "example"
        return "\n\n".join(blocks), "example"

    def _get_git_log(self, n: int = 20) -> tuple[str, str]:
        if not self.git_log:
            return self._na("get_git_log", "no commit history was given")
        subjects = list(self.git_log)[-max(1, min(int(n), GIT_LOG_CAP)):]
        return "\n".join(reversed(subjects)), "example"

    def _list_symbols(self, path: str) -> tuple[str, str]:
        return self._na("list_symbols", "no parser runs over the example")


# ── the message store and compaction ─────────────────────────────────────────────

class _Conversation:
    """The tool's context management around one ToolSession (see the module docstring)."""

    def __init__(self, session: ToolSession, side: Callable[[str], Awaitable[str]], count_tokens,
                 soft: int, hard: int, skip: int, recent: int, marker: str, texts: EvalTexts,
                 transcript: list[dict], counters: dict[str, int]) -> None:
        self.session, self.side, self.count = session, side, count_tokens
        self.soft, self.hard, self.skip, self.recent, self.marker = soft, hard, skip, recent, marker
        self.texts, self.transcript, self.counters = texts, transcript, counters
        self.store: list[tuple[str, str, str | None]] = []  # (id, content, parent id)
        self.msg_ids: list[str] = []  # parallel to session.messages: the store id of each
        self.pending: list[tuple[int, str]] = []  # background compaction, swapped in at the next point
        self.spawned: list[int] = []  # messages a background compaction was started for
        self._tokens: dict[int, tuple[dict, int]] = {}  # id(message) -> (message, tokens)

    async def tokens(self, text: str) -> int:
        if self.count is None:
            return len(text) // 4
        value = self.count(text)
        return await value if inspect.isawaitable(value) else value

    async def _message_tokens(self, message: dict) -> int:
        cached = self._tokens.get(id(message))
        if cached is None or cached[0] is not message:
            cached = (message, await self.tokens(str(message.get("content") or "")))
            self._tokens[id(message)] = cached
        return cached[1]

    async def total(self, upto: int) -> int:
        return sum([await self._message_tokens(m) for m in self.session.messages[:upto]])

    def persist(self, content: str, parent: str | None = None) -> str:
        msg_id = f"m{len(self.store)}"
        self.store.append((msg_id, content, parent))
        return msg_id

    def track(self, index: int) -> None:
        """Store the message now at ``index`` of the context (it was just appended)."""
        self.msg_ids.append(self.persist(str(self.session.messages[index].get("content") or "")))

    def original(self, msg_id: str) -> str | None:
        index = {mid: i for i, (mid, _, _) in enumerate(self.store)}
        at = index.get(msg_id)
        while at is not None and self.store[at][2] is not None:
            at = index.get(self.store[at][2])
        return None if at is None else self.store[at][1]

    async def summarize(self, msg_id: str, content: str, reason: str, index: int) -> str:
        prefix, body = "", content
        if self.marker and self.marker in content:
            at = content.index(self.marker)
            prefix, body = content[:at], content[at:]
        header = f"[Summarized — id: '{msg_id}'. {self.texts.summary_hint}]\n"
        snippet = body[:SUMMARY_INPUT_CHARS]
        level = 3
        text = body[:TRUNCATE_CHARS] + self.texts.truncated_note
        for number, prompt in ((1, self.texts.summary_prompt), (2, self.texts.summary_prompt_short)):
            written = (await self.side(prompt.format(content=snippet))).strip()
            if len(written) < len(body):
                level, text = number, written
                break
        summary = prefix + header + text
        self.persist(summary, parent=msg_id)
        self.counters["summaries"] += 1
        self.transcript.append({"role": "summary", "kind": reason, "content": summary, "msg_id": msg_id,
                                "index": index, "level": level, "original_chars": len(content),
                                "turn": self.session.turn})
        return summary

    def _replace(self, index: int, content: str) -> None:
        messages = self.session.messages
        messages[index] = {**messages[index], "content": content}

    async def _candidates(self, target: int, upto: int) -> list[int]:
        messages = self.session.messages[:upto]
        last_tool = max((i for i, m in enumerate(messages) if m.get("role") == "tool"), default=-1)
        total = await self.total(upto)
        savings = 0
        chosen = []
        for i, message in enumerate(messages):
            if total - savings <= target:
                break
            content = message.get("content")
            if not isinstance(content, str) or content.startswith("[Summarized"):
                continue
            role = message.get("role")
            if role == "tool" or (role == "user" and i == 1):
                size = await self._message_tokens(message)
                if role == "tool" and i == last_tool and size <= self.recent:
                    continue
                if size <= self.skip:
                    continue
                chosen.append(i)
                savings += size - self.skip
        return chosen

    async def _summaries(self, indices: list[int]) -> list[tuple[int, str]]:
        out = []
        for i in indices:
            content = self.session.messages[i]["content"]
            out.append((i, await self.summarize(self.msg_ids[i], content, "compaction", i)))
        return out

    async def between_turns(self, upto: int) -> None:
        """After a tool result: swap in finished background work, then block or start more."""
        for index, content in self.pending:
            current = self.session.messages[index].get("content")
            if isinstance(current, str) and not current.startswith("[Summarized"):
                self._replace(index, content)
        self.pending = []
        total = await self.total(upto)
        if total > self.hard:  # blocking: the background work is in already
            self.counters["compactions"] += 1
            for index, content in await self._summaries(await self._candidates(self.hard, upto)):
                self._replace(index, content)
        elif total > self.soft:
            self.spawned = await self._candidates(self.soft, upto)
            self.counters["compactions"] += bool(self.spawned)

    async def background(self) -> None:
        """The summaries of a compaction started in the background: the tool's thread
        writes them while the loop goes on (after the warning), and they land at the next
        between-turn point."""
        if self.spawned:
            spawned, self.spawned = self.spawned, []
            self.pending = await self._summaries(spawned)


# ── the loop ─────────────────────────────────────────────────────────────────────

def _first_call(message: dict) -> tuple[str, object] | None:
    calls = message.get("tool_calls") or []
    if not calls or not isinstance(calls[0], dict):
        return None
    function = calls[0].get("function") or {}
    return function.get("name"), function.get("arguments")


def _unreadable(arguments: object) -> bool:
    if not isinstance(arguments, str):
        return False
    try:
        json.loads(arguments)
    except ValueError:
        return True
    return False


def side_body(prompt: str, backend: str) -> dict:
    """A side request (summary, query_message answer) as the tool sends it: no tools."""
    body = {"messages": [{"role": "user", "content": prompt}], "stream": False}
    if backend == "ollama":  # no temperature, as in the loop's requests: the tool leaves it to the server
        return body | {"keep_alive": "1h", "options": {"num_ctx": OLLAMA_NUM_CTX}}
    return body


async def run_protocol_episode(
    example_diff: str,
    candidate: Candidate,
    spec: ProtocolSpec = BUILTIN,
    backend: str = "v1",
    *,
    hunks: Sequence[Hunk] | None = None,
    git_log: Sequence[str] | None = None,
    count_tokens: Callable[[str], int | Awaitable[int]] | None = None,
    thresholds: tuple[int, int] | None = None,
    summarize_over: int = SUMMARIZE_OVER_TOKENS,
    recent_tool_tokens: int = RECENT_TOOL_TOKENS,
    texts: EvalTexts = TEXTS,
) -> EpisodeResult:
    """Play the tool's side of one session against ``candidate``; never raises for the
    candidate's failures (outcome ``error``). ``git_log`` (oldest first) answers
    get_git_log; without it the answer is "not available"."""
    if backend not in THRESHOLDS:
        raise ValueError(f"backend must be one of {sorted(THRESHOLDS)}, not {backend!r}")
    started = time.perf_counter()
    latencies: list[float] = []

    async def ask(body: dict) -> tuple[dict, float]:
        """One candidate request, timed as the tool would wait for it."""
        sent = time.perf_counter()
        reply = await candidate(body)
        latencies.append(time.perf_counter() - sent)
        return reply, latencies[-1]

    files = split_diff(example_diff)
    hunks = list(hunks) if hunks is not None else tool_view(files)
    answers = ExampleAnswers(files, git_log, texts)
    queries: list[dict] = []
    placeholder = "\0query_message\0"

    def investigate(name: str, args: dict) -> str:
        if name == "query_message":
            queries.append(args)
            return placeholder
        return answers.answer(name, args, session.turn)

    session = ToolSession.for_hunks(hunks, spec, ollama=backend == "ollama", investigate=investigate)
    counters = dict.fromkeys(("malformed_arguments", "summaries", "compactions", "side_requests"), 0)
    transcript = [{**m, "turn": 0, "kind": kind}
                  for m, kind in zip(session.messages, ("system", "first_user"), strict=True)]

    async def side(prompt: str) -> str:
        counters["side_requests"] += 1
        reply, _ = await ask(side_body(prompt, backend))
        return str((reply or {}).get("content") or "")

    soft, hard = thresholds or THRESHOLDS[backend]
    convo = _Conversation(session, side, count_tokens, soft, hard, summarize_over, recent_tool_tokens,
                          spec.user_turn.diff_heading, texts, transcript, counters)
    convo.track(0)
    convo.track(1)
    outcome, reason = "", ""
    try:
        while not session.done:
            turn = session.turn
            message, latency = await ask(session.request())
            if not isinstance(message, dict):
                raise CandidateError(f"the candidate answered {type(message).__name__}, not a message")
            call = _first_call(message)
            name = call[0] if call else None
            if call and _unreadable(call[1]):
                counters["malformed_arguments"] += 1
            before = len(session.messages)
            added = session.respond(message)
            kept = session.messages[before:]
            if not kept:
                transcript.append({**message, "turn": turn, "kind": "ignored", "latency_s": latency})
                continue
            transcript.append({**kept[0], "turn": turn, "kind": "tool_call" if call else "text", "latency_s": latency})
            convo.track(before)
            tool_at = None
            warn_at = None
            for offset, extra in enumerate(added, start=before + 1):
                if extra["role"] == "tool":
                    tool_at = offset
                elif tool_at is not None:  # a warning follows the reply, after any compaction
                    warn_at = offset
                else:
                    transcript.append({**extra, "turn": turn, "kind": "nudge"})
                    convo.track(offset)
            if tool_at is not None:
                await _tool_result(session, convo, tool_at, name, queries, placeholder, summarize_over,
                                   transcript, turn, answers)
                if name != TERMINAL:
                    await convo.between_turns(warn_at if warn_at is not None else len(session.messages))
            if warn_at is not None:
                transcript.append({**session.messages[warn_at], "turn": turn, "kind": "warning"})
                convo.track(warn_at)
            if not session.done:
                await convo.background()
        outcome = {"finalized": "finalized", "turn_limit": "out_of_turns"}.get(session.outcome, "crashed")
        reason = session.reason
    except (TimeoutError, CandidateError, aiohttp.ClientError) as error:
        outcome, reason = "error", f"{type(error).__name__}: {error}"
        transcript.append({"role": "error", "kind": "error", "content": reason, "turn": session.turn})
    stats = session.stats
    assigned = set(session.emitted) | (set(session.skipped_hunks) if outcome == "finalized" else set())
    counters |= {
        "turns_used": stats["responses"],
        "no_tool_call": stats["no_tool_call"],
        "malformed_arguments": counters["malformed_arguments"] + stats["bad_arguments"],
        "unknown_id": stats["unknown_id"],
        "duplicate_id": stats["duplicate_id"],
        "finalize_rejected": stats["finalize_rejected"],
        "unknown_tool": stats["unknown_tool"],
        "investigation": stats["investigation"],
        "emit_accepted": stats["emit_accepted"],
        "unassigned": len(session.all_ids - assigned),
    }
    return EpisodeResult(
        outcome=outcome, reason=reason, backend=backend, hunk_ids=[h.id for h in hunks],
        max_turns=session.max_turns, commits=[dict(c) for c in session.commits],
        skipped_hunks=list(session.skipped_hunks), gitignore=list(session.gitignore), counters=counters,
        transcript=transcript, investigations=answers.log, spec_hash=spec.content_hash,
        wall_s=time.perf_counter() - started, request_latencies=latencies)


async def _tool_result(session: ToolSession, convo: _Conversation, index: int, name: str | None,
                       queries: list[dict], placeholder: str, summarize_over: int, transcript: list[dict],
                       turn: int, answers: ExampleAnswers) -> None:
    """Answer a pending query_message, record the reply, summarize it when the tool would."""
    message = session.messages[index]
    content = message["content"]
    if content == placeholder:
        args = queries.pop()
        original = convo.original(args["msg_id"])
        if original is None:
            ids = [mid for mid, _, _ in convo.store][-20:]
            content, source = answers.texts.query_unknown.format(msg_id=args["msg_id"], ids=ids), "unknown_id"
        else:
            content = await convo.side(answers.texts.query_prompt.format(
                msg_id=args["msg_id"], content=original[:QUERY_INPUT_CHARS], question=args["question"]))
            source = "candidate"
        answers.log.append({"turn": turn, "tool": "query_message", "arguments": args, "answered": source,
                            "chars": len(content)})
        session.messages[index] = message = {**message, "content": content}
    transcript.append({**message, "turn": turn, "kind": "reply"})
    if name != EMIT and await convo.tokens(content) > summarize_over:
        orig_id = convo.persist(content)
        convo.msg_ids.append(orig_id)
        session.messages[index] = {**message, "content": await convo.summarize(orig_id, content, "tool_result", index)}
    else:
        convo.track(index)


# ── an endpoint as the candidate ─────────────────────────────────────────────────

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_RETRY_WAIT = 60.0


class EndpointCandidate:
    """A served model as a candidate: ``/v1/chat/completions`` or native Ollama ``/api/chat``
    (the tool picks native Ollama when the base URL has no ``/v1``; so does this by default).

    Transient failures (connection errors, timeouts, 429/5xx) are retried with backoff,
    honouring Retry-After; a last failure raises ``CandidateError``. ``count_tokens``
    asks llama-server's ``/tokenize`` at the server root, as the tool does on ``/v1``,
    and falls back to characters / 4 once that fails.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str = "", backend: str | None = None,
                 timeout: float = 300.0, max_attempts: int = 4, backoff: float = 0.5) -> None:
        self.base_url = base_url.rstrip("/")
        self.backend = backend or ("v1" if "/v1" in self.base_url else "ollama")
        self.model, self.timeout, self.max_attempts, self.backoff = model, timeout, max_attempts, backoff
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._session: aiohttp.ClientSession | None = None
        self._tokenize = self.backend == "v1"
        self.requests = 0

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/chat/completions" if self.backend == "v1" else f"{self.base_url}/api/chat"

    async def __aenter__(self) -> EndpointCandidate:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def _post(self, url: str, payload: dict, attempts: int | None = None) -> dict:
        attempts = attempts or self.max_attempts
        for attempt in range(1, attempts + 1):
            delay = self.backoff * 2 ** (attempt - 1)
            try:
                self.requests += 1
                async with self._client().post(url, json=payload, headers=self._headers) as response:
                    if response.status in RETRY_STATUS and attempt < attempts:
                        try:
                            delay = max(delay, float(response.headers.get("Retry-After", "")))
                        except ValueError:
                            pass
                        await asyncio.sleep(min(delay, MAX_RETRY_WAIT))
                        continue
                    if response.status >= 400:
                        text = (await response.text())[:300]
                        raise CandidateError(f"HTTP {response.status} from {url}: {text}")
                    data = await response.json(content_type=None)
            except (TimeoutError, aiohttp.ClientError, ValueError) as error:
                if attempt == attempts:
                    raise CandidateError(f"{url}: {type(error).__name__}: {error}") from error
                await asyncio.sleep(delay)
                continue
            if not isinstance(data, dict):
                raise CandidateError(f"{url} answered JSON that is not an object")
            return data
        raise CandidateError(f"{url}: no answer after {attempts} attempts")

    async def __call__(self, body: dict) -> dict:
        data = await self._post(self.chat_url, {"model": self.model, **body})
        if self.backend == "v1":
            choices = data.get("choices") or [{}]
            message = choices[0].get("message") if isinstance(choices[0], dict) else None
        else:
            message = data.get("message")
        if not isinstance(message, dict):
            raise CandidateError(f"{self.chat_url} answered without a message")
        out = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("tool_calls"):
            out["tool_calls"] = message["tool_calls"]
        return out

    async def count_tokens(self, text: str) -> int:
        if self._tokenize:
            try:
                data = await self._post(self.base_url.removesuffix("/v1") + "/tokenize", {"content": text}, 1)
                return len(data["tokens"])
            except (CandidateError, KeyError, TypeError):
                self._tokenize = False
        return len(text) // 4


def policy_candidate(answer: Callable[[list[dict], list[dict] | None], dict | Awaitable[dict]]) -> Candidate:
    """A candidate from a policy ``answer(messages, tools) -> assistant message`` (sync or async)."""
    async def candidate(body: dict) -> dict:
        reply = answer(body["messages"], body.get("tools"))
        return await reply if inspect.isawaitable(reply) else reply
    return candidate
