"""git-smart-commit's protocol as data, and the tool's side of its loop.

The student is trained and evaluated on the conversation the tool holds with it, so
export (``conversation_for_label``) and evaluation drive the same ``ToolSession``.
Behaviour follows the tool at the commit named in PROTOCOL.md: script
``git-smart-commit`` (``classify_changes``: its ``emit_commit`` and
``finalize_commits`` closures, the turn limit) and ``steropes/client.py``
(``LLMClient.agentic_loop``), ``steropes/parsers.py`` (``extract_tool_call``).

``BUILTIN`` has the tool's tool names, argument names, types, defaults and required
fields (the pydantic models below mirror the tool's, so ``model_json_schema()`` gives
the same shapes) with gsctune's own descriptions and system prompt: it is not what
the tool sends. Replies whose format PROTOCOL.md spells out are reproduced (and
checked against a capture by ``labeling.protocol.check``). Sentences the tool writes
in its own words are gsctune's wording here, with one exception: a captured protocol
version's ``to_spec()`` takes the tool's rejection of a finalize_commits that leaves
hunks uncovered (``finalize_unassigned``) and the instruction line that closes every
finalize rejection (``terminal_rejected``) from the capture, when the captured reply
reads unambiguously (``captured_rejection``). Nudges, warnings, the other finalize
errors and the user turn's own words (``hunks.RenderTexts``) stay gsctune's.
"""
from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

from pydantic import BaseModel, Field, ValidationError

from gsctune.domain.hunks import TEXTS, Hunk, RenderTexts, hunk_label, render_user_turn

TOOL_NAME = "git-smart-commit"
TOOL_REPOSITORY = "fiddlerwoaroof/git-smart-commit"
TOOL_COMMIT = "c2f41fbde62561853b1c97adbc20b5fed96ff633"
TERMINAL = "finalize_commits"
EMIT = "emit_commit"
BASE_TURNS, TURN_CAP, WARN_AT, FORCE_AFTER = 20, 50, 6, 3  # MAX_AGENTIC_TURNS(_CAP), TURNS_WARN_AT
SUMMARIZE_OVER_TOKENS = 125  # TOOL_RESULT_SUMMARIZE_SKIP
OLLAMA_NUM_CTX = 128_000  # native Ollama's options; no temperature: the tool leaves it to the server


def max_turns(n_hunks: int) -> int:
    """The tool's turn budget: two more turns per five hunks, capped."""
    return min(BASE_TURNS + (n_hunks // 5) * 2, TURN_CAP)


# ── argument models: the tool's shapes, gsctune's descriptions ───────────────────

class Issue(BaseModel):
    message: str = Field(description="What looks wrong, with the line it is on.")
    path: str = Field(description="File the problem is in.")


class Commit(BaseModel):
    subject: str = Field(description="Conventional commit subject, type(scope): summary, under 72 characters; "
                                     "'!' after the type marks a breaking change.")
    hunks: list[str] = Field(description="IDs of the hunks this commit takes, copied from the hunk list.")
    body: str = Field(default="", description="Plain-text body of a few lines saying what changed and why.")
    breaking_change: str = Field(default="", description="How callers must adapt, when the commit breaks a "
                                                         "public interface; empty otherwise.")
    issues: list[Issue] = Field(default_factory=list, description="Problems spotted in the committed code.")


class EmitCommitArgs(BaseModel):
    commit: Commit = Field(description="The commit to record.")


class FinalizeCommitsArgs(BaseModel):
    gitignore: list[str] = Field(default_factory=list, description=".gitignore patterns proposed for junk files.")
    skipped_hunks: list[str] = Field(default_factory=list, description="IDs of hunks left out of every commit.")


class ReadFileArgs(BaseModel):
    path: str = Field(description="Path of the file, relative to the repository root.")


class GetDiffArgs(BaseModel):
    path: str = Field(description="Path of the file, relative to the repository root.")
    staged: bool | None = Field(default=None, description="true: staged changes, false: unstaged, omitted: both.")


class GetGitLogArgs(BaseModel):
    n: int = Field(default=20, description="How many recent commit subjects to list (at most 50).")


class SearchDiffArgs(BaseModel):
    pattern: str = Field(description="Python regular expression to look for in the changes.")
    context_lines: int = Field(default=2, description="Lines shown around each match.")


class ListSymbolsArgs(BaseModel):
    path: str = Field(description="Path of the file, relative to the repository root.")


class QueryMessageArgs(BaseModel):
    msg_id: str = Field(description="ID printed in a summarized message's header.")
    question: str = Field(description="What to find out from the message's full text.")


# name -> (argument model, gsctune's description), in the order the tool lists them.
TOOL_MODELS: dict[str, tuple[type[BaseModel], str]] = {
    "read_file": (ReadFileArgs, "Return a file of the working tree in full (long files are cut)."),
    "get_diff": (GetDiffArgs, "Return the unified diff of one file."),
    "get_git_log": (GetGitLogArgs, "Return recent commit subjects, to follow the project's style."),
    "search_diff": (SearchDiffArgs, "Find a regular expression in the current changes, with context."),
    "list_symbols": (ListSymbolsArgs, "List a file's classes and functions with their line numbers."),
    EMIT: (EmitCommitArgs, "Record one commit; the reply lists the hunks that no commit has taken yet."),
    "query_message": (QueryMessageArgs, "Ask a question about the full text of a message that was summarized."),
    TERMINAL: (FinalizeCommitsArgs, "End the session once every hunk is in a commit or skipped."),
}


def tool_specs(descriptions: dict[str, str] | None = None) -> list[dict]:
    """OpenAI function specs, parameters from the argument models' JSON schemas."""
    return [{"type": "function", "function": {
        "name": name, "description": (descriptions or {}).get(name, text), "parameters": model.model_json_schema()}}
        for name, (model, text) in TOOL_MODELS.items()]


# ── the protocol as data ─────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Replies:
    """What the tool says back. Formats PROTOCOL.md spells out are the tool's; the
    sentences (nudges, warnings, finalize errors) are gsctune's own words, except
    ``finalize_unassigned`` and the last line of ``terminal_rejected`` where
    ``captured_rejection`` read them from a capture."""

    emit_accepted: str = "Commit emitted: '{subject}'. Remaining unassigned hunks:\n{remaining}"
    emit_unknown: str = "Error: unknown hunk ID '{hunk}'.\nValid IDs are:\n{valid}"
    emit_duplicate: str = ("Error: hunk {hunk_repr} was already assigned to a previous commit. "
                           "Each hunk can only appear in one commit.")
    tool_error: str = "Error calling {name}: {error}"
    unknown_tool: str = "Unknown tool: {name_repr}. Available: {available}"
    terminal_rejected: str = "{prefix}: {error}\nFix these arguments, then call finalize_commits again."
    # gsctune's words from here on.
    finalize_nothing: str = "no commit has been recorded; use emit_commit first."
    finalize_unknown_skipped: str = "skipped_hunks has IDs that are not in the hunk list:\n{bad}\n\nThe hunk IDs are:\n{valid}"
    finalize_unassigned: str = ("{count} hunk(s) are in no commit and not in skipped_hunks:\n{unassigned}\n"
                                "Put them in a commit with emit_commit or list them in skipped_hunks.")
    nudge_start: str = "Answer with a tool call. To begin, group hunks with emit_commit; the IDs are {ids}."
    nudge_remaining: str = "Answer with a tool call. Still unassigned ({count}): {ids}. Emit them or finalize."
    nudge_done: str = "Answer with a tool call: every hunk is assigned, so call finalize_commits."
    nudge_forced_start: str = "{n} replies in a row had no tool call. Call a tool now, emit_commit first: {ids}."
    nudge_forced_remaining: str = ("{n} replies in a row had no tool call. Call finalize_commits now and put "
                                   "the unassigned hunks ({ids}) in skipped_hunks unless you commit them.")
    nudge_forced_done: str = "{n} replies in a row had no tool call. Every hunk is assigned: call finalize_commits."
    warn_start: str = "{turns} turn(s) left and no commit recorded yet: emit commits now, then finalize."
    warn_remaining: str = "{turns} turn(s) left; {count} hunk(s) unassigned: {ids}. Emit or skip them, then finalize."
    warn_done: str = "{turns} turn(s) left and every hunk is assigned: call finalize_commits."
    investigation_offline: str = "{name} has no answer here: this session runs without the repository."


REJECTION_PREFIX = "Error"  # terminal_rejected's {prefix} for a refusal (pydantic errors: "Validation error")
_COUNT = re.compile(r"(?<!\d)1(?!\d)")


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def captured_rejection(text: str, uncovered: str, base: Replies = Replies()) -> tuple[Replies | None, str]:
    """``base`` with the tool's own finalize wording, read from its reply to a finalize_commits
    that left exactly one hunk, ``uncovered``, neither committed nor skipped; (None, why) when
    the reply does not read unambiguously, so gsctune's wording stays.

    The reply must have ``terminal_rejected``'s form (``Error: <error>`` then one instruction
    line naming finalize_commits), list ``uncovered`` once as a ``- id`` line (the form the
    tool's lists of ids take, so any set of ids renders the same way) and hold the count 1
    exactly once. The id line becomes ``{unassigned}``, the 1 ``{count}``, the instruction
    line the end of ``terminal_rejected``; the result must render the reply back exactly.
    """
    head, newline, instruction = text.rpartition("\n")
    if not text.startswith(f"{REJECTION_PREFIX}: "):
        return None, f"it does not start with {REJECTION_PREFIX + ': '!r}"
    if not newline or TERMINAL not in instruction:
        return None, f"its last line is not an instruction naming {TERMINAL}"
    lines = head[len(REJECTION_PREFIX) + 2:].split("\n")
    item = f"- {uncovered}"
    if lines.count(item) != 1 or text.count(uncovered) != 1:
        return None, f"it does not name {uncovered!r} exactly once, as a {item!r} line"
    error = "\n".join("\0" if line == item else _literal(line) for line in lines)
    counts = _COUNT.findall(error)
    if len(counts) != 1:
        return None, f"the count 1 occurs {len(counts)} times in it, not once"
    error = _COUNT.sub("{count}", error).replace("\0", "{unassigned}")
    replies = replace(base, finalize_unassigned=error,
                      terminal_rejected="{prefix}: {error}\n" + _literal(instruction))
    rendered = replies.terminal_rejected.format(
        prefix=REJECTION_PREFIX, error=replies.finalize_unassigned.format(count=1, unassigned=item))
    if rendered != text:
        return None, "the derived template does not render the captured reply back"
    return replies, ""


@dataclass(frozen=True)
class ProtocolSpec:
    """One protocol version: everything the student sees that the tool decides."""

    system_prompt: str
    tools: list[dict]
    user_turn: RenderTexts = TEXTS
    replies: Replies = Replies()
    tool_name: str = TOOL_NAME
    tool_commit: str = TOOL_COMMIT
    source: str = "built-in"  # built-in | captured | chosen
    note: str = ""

    @property
    def content_hash(self) -> str:
        """sha256 of what the student sees (source and note excluded), for manifests and drift checks."""
        data = {"system_prompt": self.system_prompt, "tools": self.tools, "user_turn": asdict(self.user_turn),
                "replies": asdict(self.replies), "tool_name": self.tool_name, "tool_commit": self.tool_commit}
        return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False,
                                         separators=(",", ":")).encode()).hexdigest()

    def to_dict(self) -> dict:
        return {**asdict(self), "content_hash": self.content_hash}

    @classmethod
    def from_dict(cls, data: dict) -> ProtocolSpec:
        return cls(system_prompt=data["system_prompt"], tools=data["tools"],
                   user_turn=RenderTexts(**data.get("user_turn", {})), replies=Replies(**data.get("replies", {})),
                   tool_name=data.get("tool_name", TOOL_NAME), tool_commit=data.get("tool_commit", TOOL_COMMIT),
                   source=data.get("source", "captured"), note=data.get("note", ""))

    @property
    def terminal_spec(self) -> dict:
        return next(t for t in self.tools if t["function"]["name"] == TERMINAL)


BUILTIN_SYSTEM_PROMPT = """\
You turn a working tree's uncommitted changes into a short series of clean commits.

The user message lists every hunk by ID (path::N) with its size, then shows the diffs.
Group hunks that belong to one logical change; a file may be split across commits when
its hunks are unrelated, but a renamed file's old and new paths stay together. Order
commits so each builds on the ones before it.

Call emit_commit once per commit with a conventional subject (type(scope): summary,
under 72 characters), a plain-text body of a few lines, and the hunk IDs it takes.
Leave junk (editor backups, build output, OS files) out of every commit: list its
hunks in skipped_hunks and propose .gitignore patterns when you call
finalize_commits, which ends the session. Every hunk must be committed or skipped.
Investigation tools (read_file, get_diff, get_git_log, search_diff, list_symbols)
are there when a diff alone does not settle a grouping.
"""

BUILTIN = ProtocolSpec(
    system_prompt=BUILTIN_SYSTEM_PROMPT,
    tools=tool_specs(),
    note="not what the tool sends: gsctune's own system prompt and tool descriptions; the tool's names, "
         "arguments and reply formats",
)


# ── the tool's side of the loop ──────────────────────────────────────────────────

def _coerce(arguments: dict) -> dict:
    """Top-level values sent as JSON (or Python literal) strings are decoded, as the tool does."""
    out = dict(arguments)
    for key, value in out.items():
        if isinstance(value, str) and value.strip().startswith(("[", "{")):
            try:
                out[key] = json.loads(value)
            except json.JSONDecodeError:
                try:
                    out[key] = ast.literal_eval(value)
                except (ValueError, SyntaxError):
                    pass
    return out


def _ids(ids) -> str:
    return "\n".join(f"- {i}" for i in sorted(ids))


class _Rejected(ValueError):
    """finalize_commits refused: the message goes back to the model."""


@dataclass
class ToolSession:
    """Plays git-smart-commit against one model: ``request()`` says what the tool would
    send next, ``respond(message)`` takes the model's assistant message and returns the
    messages the tool appends after it. ``done`` ends it; ``outcome`` is finalized,
    turn_limit or crashed (where the tool itself fails).

    ``investigate(name, args)`` answers read_file, get_diff, get_git_log, search_diff,
    list_symbols and query_message (from the example, say); ``summarize(content)``
    stands in for the tool's summaries of tool results over 125 tokens (emit_commit's
    replies excepted), counted by ``count_tokens`` (characters / 4 when absent).
    """

    hunk_ids: Sequence[str]
    user_turn: str
    spec: ProtocolSpec = BUILTIN
    ollama: bool = False  # native Ollama: no tool_choice
    investigate: Callable[[str, dict], str] | None = None
    summarize: Callable[[str], str] | None = None
    count_tokens: Callable[[str], int] | None = None
    messages: list[dict] = field(init=False)
    turn: int = field(init=False, default=1)  # the turn whose request is pending
    done: bool = field(init=False, default=False)
    outcome: str = field(init=False, default="")
    reason: str = field(init=False, default="")
    commits: list[dict] = field(init=False, default_factory=list)
    gitignore: list[str] = field(init=False, default_factory=list)
    skipped_hunks: list[str] = field(init=False, default_factory=list)
    stats: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.messages = [{"role": "system", "content": self.spec.system_prompt},
                         {"role": "user", "content": self.user_turn}]
        self.all_ids = set(self.hunk_ids)
        self.emitted: set[str] = set()
        self.max_turns = max_turns(len(self.all_ids))
        self.no_tool_streak = 0
        self.rejected_once = False  # the tool's terminal_validation_error, never cleared
        self.bonus = False
        self.stats = dict.fromkeys(("responses", "no_tool_call", "emit_accepted", "unknown_id", "duplicate_id",
                                    "finalize_rejected", "bad_arguments", "unknown_tool", "investigation"), 0)

    @classmethod
    def for_hunks(cls, hunks: Sequence[Hunk], spec: ProtocolSpec = BUILTIN, **options) -> ToolSession:
        return cls([h.id for h in hunks], render_user_turn(hunks, spec.user_turn), spec, **options)

    # -- what the tool sends --------------------------------------------------------

    @property
    def last_turn(self) -> bool:
        return self.bonus or self.turn == self.max_turns or self.no_tool_streak >= FORCE_AFTER

    def request(self) -> dict:
        """The next request body as the tool sends it, less ``model``: only finalize on the
        last turn, forced with tool_choice except on native Ollama (which has options).
        No temperature: the tool's ApiConfig leaves it unset, so the server's default applies."""
        if self.last_turn:
            choice = None if self.ollama else {"type": "function", "function": {"name": TERMINAL}}
            tools = [self.spec.terminal_spec]
        else:
            choice = None if self.ollama else "auto"
            tools = self.spec.tools
        body = {"messages": list(self.messages), "stream": False, "tools": tools}
        if self.ollama:
            body |= {"keep_alive": "1h", "options": {"num_ctx": OLLAMA_NUM_CTX}}
        else:
            body["tool_choice"] = choice
        return body

    # -- what the tool does with a reply ---------------------------------------------

    def respond(self, message: dict) -> list[dict]:
        """Take one assistant message (OpenAI shape); return the messages the tool adds."""
        if self.done:
            raise RuntimeError("the session has ended")
        self.stats["responses"] += 1
        before = len(self.messages)
        if self.bonus:
            self._bonus(message)
        else:
            self._turn(message)
            if not self.done:
                self.turn += 1
                if self.turn > self.max_turns:
                    if self.rejected_once:
                        self.bonus = True  # one more request, finalize only
                    else:
                        self._end("turn_limit", f"no accepted finalize_commits in {self.max_turns} turns")
        return self.messages[before + 1:] if len(self.messages) > before else []

    def _end(self, outcome: str, reason: str = "") -> None:
        self.done, self.outcome, self.reason = True, outcome, reason

    def _first_call(self, message: dict):
        """(name, arguments, call id) of the first tool call, or None. Arguments given as
        a string must be JSON: the tool's parser raises otherwise."""
        calls = message.get("tool_calls") or []
        if not calls:
            return None
        function = calls[0]["function"]
        raw = function.get("arguments")
        arguments = json.loads(raw) if isinstance(raw, str) else raw
        return function["name"], dict(arguments), calls[0].get("id")

    def _tool_message(self, call_id: str | None, content: str) -> None:
        message = {"role": "tool", "content": content}
        if call_id is not None:
            message = {"role": "tool", "tool_call_id": call_id, "content": content}
        self.messages.append(message)

    def _maybe_summarize(self, content: str) -> str:
        if self.summarize is None:
            return content
        tokens = self.count_tokens(content) if self.count_tokens else len(content) // 4
        return self.summarize(content) if tokens > SUMMARIZE_OVER_TOKENS else content

    def _turn(self, message: dict) -> None:
        last_turn = self.last_turn  # as the request offered it, before the streak resets
        try:
            call = self._first_call(message)
        except (ValueError, TypeError, KeyError) as error:  # the tool's loop dies on these
            self.messages.append(message)
            self._end("crashed", f"unreadable tool call: {error}")
            return
        if call is None:
            self.stats["no_tool_call"] += 1
            self.no_tool_streak += 1
            self.messages.append({"role": "assistant", "content": (message.get("content") or "").strip()})
            self.messages.append({"role": "user", "content": self._nudge()})
            return
        self.no_tool_streak = 0
        name, arguments, call_id = call
        self.messages.append(message)
        arguments = _coerce(arguments)
        replies = self.spec.replies
        if name == TERMINAL:
            try:
                self._finalize(arguments)
                return
            except (ValidationError, ValueError) as error:
                self.stats["finalize_rejected"] += 1
                if last_turn:
                    # The tool reads a flag it never set here (UnboundLocalError) and stops.
                    self._end("crashed", "finalize_commits rejected on the last turn")
                    return
                self.rejected_once = True
                prefix = "Validation error" if isinstance(error, ValidationError) else "Error"
                self._tool_message(call_id, self._maybe_summarize(
                    replies.terminal_rejected.format(prefix=prefix, error=error)))
                return
        if name not in TOOL_MODELS:
            self.stats["unknown_tool"] += 1
            available = [n for n in TOOL_MODELS if n != TERMINAL]
            result = replies.unknown_tool.format(name_repr=repr(name), available=available)
        else:
            try:
                args = TOOL_MODELS[name][0].model_validate(arguments)
                result = self._emit(args) if name == EMIT else self._investigate(name, args)
            except Exception as error:  # noqa: BLE001 (the tool reports any failure this way)
                self.stats["bad_arguments"] += 1
                result = replies.tool_error.format(name=name, error=error)
        if name != EMIT:
            result = self._maybe_summarize(result)
        self._tool_message(call_id, result)
        left = self.max_turns - self.turn
        if 0 < left <= WARN_AT:
            self.messages.append({"role": "user", "content": self._warning(left)})

    def _bonus(self, message: dict) -> None:
        """The extra finalize-only request after the last turn: any failure ends the run."""
        try:
            call = self._first_call(message)
            if call is None or call[0] != TERMINAL:
                raise ValueError("no finalize_commits call")
            self.messages.append(message)
            self._finalize(_coerce(call[1]))
        except (ValidationError, ValueError, TypeError, KeyError) as error:
            self._end("turn_limit", f"bonus turn failed: {error}")

    def _emit(self, args: EmitCommitArgs) -> str:
        replies = self.spec.replies
        for hunk in args.commit.hunks:
            if hunk not in self.all_ids:
                self.stats["unknown_id"] += 1
                return replies.emit_unknown.format(hunk=hunk, valid=_ids(self.all_ids))
        for hunk in args.commit.hunks:
            if hunk in self.emitted:
                self.stats["duplicate_id"] += 1
                return replies.emit_duplicate.format(hunk_repr=repr(hunk))
        self.stats["emit_accepted"] += 1
        self.commits.append(args.commit.model_dump())
        self.emitted.update(args.commit.hunks)
        return replies.emit_accepted.format(subject=args.commit.subject, remaining=_ids(self.all_ids - self.emitted))

    def _investigate(self, name: str, args: BaseModel) -> str:
        self.stats["investigation"] += 1
        if self.investigate is None:
            return self.spec.replies.investigation_offline.format(name=name)
        return self.investigate(name, args.model_dump())

    def _finalize(self, arguments: dict) -> None:
        args = FinalizeCommitsArgs.model_validate(arguments)
        replies = self.spec.replies
        if not self.commits:
            raise _Rejected(replies.finalize_nothing)
        bad = set(args.skipped_hunks) - self.all_ids
        if bad:
            raise _Rejected(replies.finalize_unknown_skipped.format(bad=_ids(bad), valid=_ids(self.all_ids)))
        unassigned = self.all_ids - self.emitted - set(args.skipped_hunks)
        if unassigned:
            raise _Rejected(replies.finalize_unassigned.format(count=len(unassigned), unassigned=_ids(unassigned)))
        self.gitignore, self.skipped_hunks = list(args.gitignore), list(args.skipped_hunks)
        self._end("finalized")

    def _nudge(self) -> str:
        replies = self.spec.replies
        remaining = sorted(self.all_ids - self.emitted)
        n = self.no_tool_streak
        if n >= FORCE_AFTER:
            if not self.commits:
                return replies.nudge_forced_start.format(n=n, ids=sorted(self.all_ids))
            if remaining:
                return replies.nudge_forced_remaining.format(n=n, ids=remaining)
            return replies.nudge_forced_done.format(n=n)
        if not self.commits:
            return replies.nudge_start.format(ids=sorted(self.all_ids))
        if remaining:
            return replies.nudge_remaining.format(count=len(remaining), ids=remaining)
        return replies.nudge_done

    def _warning(self, turns: int) -> str:
        replies = self.spec.replies
        remaining = sorted(self.all_ids - self.emitted)
        if not self.commits:
            return replies.warn_start.format(turns=turns)
        if remaining:
            return replies.warn_remaining.format(turns=turns, count=len(remaining), ids=remaining)
        return replies.warn_done.format(turns=turns)


# ── the ideal conversation for a label ───────────────────────────────────────────

def tool_call_message(call_id: str, name: str, arguments: dict, as_dict: bool = False) -> dict:
    """An assistant message with one tool call; arguments as a JSON string (the OpenAI
    wire format, one Arrow type in ``datasets``) unless ``as_dict``."""
    encoded = arguments if as_dict else json.dumps(arguments, ensure_ascii=False)
    return {"role": "assistant", "content": "",
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": encoded}}]}


def conversation_for_label(hunks: Sequence[Hunk], label: dict, spec: ProtocolSpec = BUILTIN,
                           arguments_as_dict: bool = False) -> dict:
    """``{"tools", "messages"}``: the conversation in which the model answers the label
    perfectly (one emit_commit per commit in the label's order, then finalize_commits),
    with every tool reply produced by ``ToolSession``. A file-level label is converted
    first; a label the tool would not accept raises ValueError naming why."""
    if any("hunks" not in c for c in label.get("commits", [])):
        label = hunk_label(label, hunks)
    session = ToolSession.for_hunks(hunks, spec)
    calls = [(EMIT, {"commit": {"subject": c["subject"], "hunks": list(c["hunks"]), "body": c.get("body", ""),
                                "breaking_change": c.get("breaking_change", ""),
                                "issues": [{"message": i.get("message", ""), "path": i.get("path", "")}
                                           for i in c.get("issues", [])]}})
             for c in label.get("commits", [])]
    calls.append((TERMINAL, {"gitignore": list(label.get("gitignore", [])),
                             "skipped_hunks": list(label.get("skipped_hunks", []))}))
    for number, (name, arguments) in enumerate(calls, 1):
        if session.done:
            break
        accepted = session.stats["emit_accepted"]
        added = session.respond(tool_call_message(f"call_{number}", name, arguments, arguments_as_dict))
        if name == EMIT and session.stats["emit_accepted"] == accepted:
            reply = next((m["content"] for m in added if m["role"] == "tool"), session.reason)
            raise ValueError(f"commit {number} is not accepted: {reply}")
    if session.outcome != "finalized":
        last = session.messages[-1]["content"] if session.messages[-1]["role"] == "tool" else session.reason
        raise ValueError(f"the label does not finish the session: {last or session.reason}")
    return {"tools": spec.tools, "messages": session.messages}
