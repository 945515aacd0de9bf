"""Check gsctune's built-in renderer against a captured protocol version.

Export and evaluation render the student's conversation with gsctune's renderer
(``ToolSession``, ``Replies``, ``hunks.render_user_turn``), not with the captured texts:
this check says where that renderer and the user's own tool part ways, so a mismatch is
reported (on the version's page, by ``capture_protocol``, in export manifests) rather
than hidden.

- Replies: the capture's scripted session is played again against ``ToolSession`` with
  the same hunk ids, subject and unknown id; the emit replies, whose formats the built-in
  claims to reproduce, must be equal byte for byte. The finalize rejection is the tool's
  own sentence: only the built-in's claims about its form are checked, and the tool's
  wording is taken over where it reads unambiguously (``captured_replies``).
- The first user message: list header, diff header and section header must be equal;
  every hunk the capture shows is matched with the built-in's rendering of the same case
  (changed text, untracked file, binary file, lockfile, hunk over 6,000 characters). A
  form the built-in never produces is a mismatch; a case the capture's repository lacks
  is "not checked", and said so. It is compared with the words exports use: where the
  capture's headings, untracked and binary texts or lockfile stat line read unambiguously
  they are the tool's own (``captured_texts``, reported as "captured wording used"), so
  they match by construction; elsewhere gsctune's wording stays, and says why.

Django-free: it works on ``ProtocolVersion.to_spec_dict()``-shaped dicts.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import cache

from gsctune.domain.hunks import (
    TEXTS,
    Hunk,
    RenderTexts,
    _section,
    example_hunks,
    hunk_line,
    is_lockfile,
    render_user_turn,
)
from gsctune.domain.protocol import BUILTIN, TERMINAL, Replies, ToolSession, captured_rejection

from .layout import hunk_forms, hunk_ids, raw_parts, user_turn_layout
from .session import MOVES, SUMMARY_TEXT, UNKNOWN_ID, CaptureSession

OK, MISMATCH, NOT_CHECKED = "ok", "mismatch", "not checked"
BY_DESIGN = "differs by design"  # PROTOCOL.md: not reproducible
CAPTURED_WORDING, GSCTUNE_WORDING = "captured wording used", "gsctune's wording kept"
EXACT_MOVES = ("emit_accepted", "emit_unknown_id", "emit_duplicate_id")
LONG, LOCKFILE = "hunk over 6,000 characters", "lockfile"
FORM_CASES = ("changed text", "untracked file", "binary file")  # told apart by their forms alone
SHORT = 160  # characters of a text a finding shows


@dataclass(frozen=True)
class Finding:
    """One part of the protocol compared: a sentence, and both sides in short."""

    part: str
    status: str
    message: str
    expected: str = ""  # what gsctune's built-in renderer produces
    captured: str = ""  # what the capture has


@dataclass(frozen=True)
class RendererCheck:
    findings: tuple[Finding, ...]

    @property
    def mismatches(self) -> list[Finding]:
        return [f for f in self.findings if f.status == MISMATCH]

    @property
    def status(self) -> str:
        """ok, mismatch, or not checked (nothing could be compared): what a manifest records."""
        if self.mismatches:
            return MISMATCH
        return OK if any(f.status == OK for f in self.findings) else NOT_CHECKED

    @property
    def headline(self) -> str:
        n = len(self.mismatches)
        if n:
            return f"{n} mismatch{'es' if n > 1 else ''} between gsctune's built-in renderer and the capture"
        checked = sum(f.status == OK for f in self.findings)
        if not checked:
            return "renderer not checked: the capture has nothing to compare"
        unchecked = sum(f.status == NOT_CHECKED for f in self.findings)
        return (f"renderer matches the capture ({checked} parts checked"
                + (f", {unchecked} not checked" if unchecked else "") + ")")


def short(text: str, limit: int = SHORT) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ── the replies ──────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Replay:
    """The capture's script played against gsctune's ToolSession."""

    replies: dict[str, str]
    uncovered: str | None  # the hunk the scripted rejected finalize left uncovered


def replay(user_turn: str) -> Replay:
    """Plays ``session.CaptureSession``'s script (the moves a capture makes) against the
    built-in ToolSession over the captured message's hunk ids, and records its replies the
    way a capture records the tool's."""
    ids = hunk_ids(user_turn)
    tool = ToolSession(ids, user_turn, BUILTIN)
    script = CaptureSession()

    def ask() -> dict:
        _, _, out = script.handle("POST", "/v1/chat/completions", json.dumps(tool.request()).encode())
        return json.loads(out)["choices"][0]["message"]

    for _ in range(len(MOVES) + 1):
        if tool.done:
            break
        tool.respond(ask())
    if not tool.done:
        ask()  # the script records the reply to its last call when the next request comes
    finalize = next((json.loads(m["tool_calls"][0]["function"]["arguments"]) for m in tool.messages
                     if m.get("tool_calls") and m["tool_calls"][0]["function"]["name"] == TERMINAL), None)
    left = sorted(set(ids) - tool.emitted - set(finalize["skipped_hunks"])) if finalize else []
    return Replay(script.result()["replies"], left[0] if left else None)


def _first_difference(expected: str, captured: str) -> tuple[int, str, str]:
    """(line number, expected line, captured line) of the first line that differs."""
    a, b = expected.split("\n"), captured.split("\n")
    for n in range(max(len(a), len(b))):
        x, y = (a[n] if n < len(a) else "(no line)"), (b[n] if n < len(b) else "(no line)")
        if x != y:
            return n + 1, x, y
    return 0, "", ""


def check_replies(captured: dict[str, str], played: Replay) -> list[Finding]:
    findings = []
    for move in EXACT_MOVES:
        part = f"reply to {move}"
        text, expected = captured.get(move), played.replies.get(move, "")
        if text is None:
            findings.append(Finding(part, NOT_CHECKED, f"The capture has no reply to {move}.", short(expected)))
        elif SUMMARY_TEXT in text:
            findings.append(Finding(part, NOT_CHECKED, f"The tool summarized its reply to {move} before sending it.",
                                    short(expected), short(text)))
        elif text == expected:
            findings.append(Finding(part, OK, f"The reply to {move} is the built-in's, byte for byte.",
                                    short(expected), short(text)))
        else:
            n, x, y = _first_difference(expected, text)
            findings.append(Finding(part, MISMATCH, f"The reply to {move} differs at line {n}: the built-in renders "
                                    f"{short(x)!r}, the capture has {short(y)!r}.", short(expected), short(text)))
    findings += _check_rejection(captured.get("finalize_rejected"), played)
    if "finalize_accepted_was_rejected" in captured:
        text = captured["finalize_accepted_was_rejected"]
        findings.append(Finding("reply to finalize_accepted", MISMATCH, "The tool rejected the finalize_commits that the "
                                f"built-in accepts: {short(text)!r}.", "(accepted: no reply)", short(text)))
    elif "finalize_accepted" in captured:
        findings.append(Finding("reply to finalize_accepted", OK, "Both accept the final finalize_commits and end the loop.",
                                "(accepted: no reply)", "(accepted: no reply)"))
    else:
        findings.append(Finding("reply to finalize_accepted", NOT_CHECKED, "The capture ended before its final move."))
    return findings


def _check_rejection(text: str | None, played: Replay) -> list[Finding]:
    """The rejected finalize: the built-in's claims about the reply's form, then the wording."""
    part = "reply to finalize_rejected"
    expected = played.replies.get("finalize_rejected", "")
    if text is None:
        return [Finding(part, NOT_CHECKED, "The capture has no reply to finalize_rejected.", short(expected))]
    if SUMMARY_TEXT in text:
        return [Finding(part, NOT_CHECKED, "The tool summarized its rejection before sending it.",
                        short(expected), short(text))]
    named = played.uncovered or UNKNOWN_ID
    last, expected_last = text.rpartition("\n")[2], expected.rpartition("\n")[2]
    prefix = expected.split(": ", 1)[0] + ": "
    claims = [
        (text.startswith(prefix), f"starts with {prefix!r}", prefix, short(text, 40)),
        ("\n" in text and TERMINAL in last, f"ends with an instruction line naming {TERMINAL}",
         short(expected_last), short(last)),
        (named in text, f"names the hunk it refuses, {named}", named, short(text)),
    ]
    findings = [Finding(f"{part} (form)", OK if holds else MISMATCH,
                        f"The rejection {claim}" + ("." if holds else f" in the built-in, not in the capture: "
                                                                      f"{short(captured)!r}."), exp, captured)
                for holds, claim, exp, captured in claims]
    findings.append(_wording(text, played))
    return findings


def _wording(text: str, played: Replay) -> Finding:
    part = "finalize rejection wording"
    if played.uncovered is None:
        return Finding(part, GSCTUNE_WORDING, "The capture's repository had too few hunks to leave one uncovered, "
                       "so its rejection shows no uncovered-hunk sentence; gsctune's wording stays.")
    replies, why = captured_rejection(text, played.uncovered)
    if replies is None:
        return Finding(part, GSCTUNE_WORDING, f"gsctune's wording stays for uncovered hunks: the captured rejection "
                       f"does not read unambiguously ({why}).", short(Replies().finalize_unassigned), short(text))
    return Finding(part, CAPTURED_WORDING, "Exports and evaluation use the tool's own sentence for uncovered hunks "
                   "and its closing instruction, read from this capture.",
                   short(Replies().finalize_unassigned), short(replies.finalize_unassigned))


def captured_replies(data: dict) -> tuple[Replies, Finding | None]:
    """The Replies a captured version renders with: the built-in's, with the finalize wording
    taken from the capture where ``captured_rejection`` reads it unambiguously; and the
    finding that says which (None when the capture has no rejection to read)."""
    text = (data.get("replies") or {}).get("finalize_rejected")
    ids = hunk_ids(data.get("user_turn") or "")
    if not text or not ids or SUMMARY_TEXT in text:
        return Replies(), None
    played = replay(data["user_turn"])
    finding = _wording(text, played)
    if finding.status != CAPTURED_WORDING:
        return Replies(), finding
    return captured_rejection(text, played.uncovered)[0], finding


# ── the first user message's wording ─────────────────────────────────────────────

COUNTS = re.compile(r"\(\+(\d+)/-(\d+)\)")
SIGNED = re.compile(r"(?<![\w+-])([+-])(\d+)(?!\d)")
PATCH_STARTS = ("diff --git", "@@")
WORDING = "user turn wording"
ABSENT = "the capture shows no "  # a case the capture's repository lacks: nothing to read


def _stand_in(hunk_id: str, kind: str, counts: tuple[int, int] = (0, 0)) -> Hunk:
    """A hunk of the capture's list, for rendering one case with ``hunk_line``/``_section``."""
    path = hunk_id.rsplit("::", 1)[0]
    return Hunk(hunk_id, path, int(hunk_id.rsplit("::", 1)[1]), "", "", kind, path, "", counts)


def _own_line(body: str) -> str:
    """A body without what the tool appended after the last section (it follows a blank line)."""
    return body.partition("\n\n")[0]


def _renders_back(body: str, is_last: bool, expected: str) -> bool:
    """The captured section is the rendering (the last one may carry what the tool appended)."""
    return body == expected or (is_last and body.startswith(expected + "\n\n"))


def _lockfile_template(body: str, counts: tuple[int, int]) -> tuple[str | None, str]:
    """The stat line's template: the hunk list's +A and -D, each found exactly once, become fields."""
    if body.startswith(PATCH_STARTS) or SUMMARY_TEXT in body:
        return None, "the lockfile's section is not a stat line"
    found = {sign: [m for m in SIGNED.finditer(body) if m[1] == sign and int(m[2]) == n]
             for sign, n in zip("+-", counts)}
    if any(len(matches) != 1 for matches in found.values()):
        return None, (f"its section does not hold +{counts[0]} and -{counts[1]} (the hunk list's numbers) "
                      f"exactly once each")
    (plus,), (minus,) = found["+"], found["-"]
    cuts = sorted(((plus.span(), "+{added}"), (minus.span(), "-{deleted}")))
    out, at = [], 0
    for (start, end), field in cuts:
        out += [body[at:start].replace("{", "{{").replace("}", "}}"), field]
        at = end
    return "".join(out) + body[at:].replace("{", "{{").replace("}", "}}"), ""


def _untracked_and_binary(groups: dict[tuple[str, str], list[str]], order: list[str]) -> tuple[dict, str]:
    """Which (tag, body) form is the untracked file's and which the binary file's.

    One form is told apart by the built-in's tag or body it shares; with two, the tool's
    order decides (tracked files, binary ones among them, before untracked files): the form
    of the last listed hunk is the untracked file's, and every hunk of the other comes first.
    """
    builtin = {"untracked": (TEXTS.untracked_tag, TEXTS.untracked_body), "binary": (TEXTS.binary_tag, TEXTS.binary_body)}

    def shares(form, kind):
        return form[0] == builtin[kind][0] or form[1] == builtin[kind][1]

    forms = list(groups)
    named = next((h for form in forms for h in groups[form] if h.rsplit("::", 1)[0] in "\n".join(form)), None)
    if named:
        return {}, f"the text shown for {named} names its file, so it is no fixed wording"
    if len(forms) == 1:
        kinds = [kind for kind in builtin if shares(forms[0], kind)]
        if len(kinds) == 1:
            return {kinds[0]: forms[0]}, ""
        return {}, ("its one form of a hunk without a diff shares no tag or body with exactly one of gsctune's "
                    "untracked and binary forms, so which it is cannot be told")
    if len(forms) == 2:
        last = order[-1]
        untracked = next((form for form in forms if last in groups[form]), None)
        if untracked is not None:
            binary = next(form for form in forms if form != untracked)
            first_untracked = min(order.index(h) for h in groups[untracked])
            if (max(order.index(h) for h in groups[binary]) < first_untracked
                    and not shares(untracked, "binary") and not shares(binary, "untracked")):
                return {"untracked": untracked, "binary": binary}, ""
        return {}, ("its two forms of hunks without a diff are not in the tool's order (binary files among the "
                    "tracked ones, untracked files last)")
    return {}, f"it shows {len(forms)} forms of hunks without a diff, where the tool has two"


def captured_texts(data: dict) -> tuple[RenderTexts, list[Finding]]:
    """The RenderTexts a captured version renders the first user message with: gsctune's, with
    the headings, the untracked and binary tags and bodies, and the lockfile's stat line taken
    from the capture where each reads unambiguously and renders every captured instance back
    exactly; and one finding per part that says which wording is used, and why."""
    user_turn = data.get("user_turn") or ""
    head, listing, between, sections = raw_parts(user_turn)
    if not listing:
        return TEXTS, []
    order = [hunk_id for hunk_id, _ in listing]
    rest_of = dict(listing)
    body_of = dict(sections)
    last = sections[-1][0] if sections else None
    derived: dict[str, str] = {}
    findings = []

    def verdict(part: str, fields: dict[str, str], why: str, shown: str) -> None:
        if why:
            reason = why if why.startswith(ABSENT) else f"the capture's does not read unambiguously ({why})"
            findings.append(Finding(f"{WORDING}: {part}", GSCTUNE_WORDING, f"gsctune's wording stays for the {part}: "
                                    f"{reason}.", "", short(shown)))
            return
        derived.update(fields)
        findings.append(Finding(f"{WORDING}: {part}", CAPTURED_WORDING, f"Exports and evaluation use the tool's "
                                f"own wording for the {part}, read from this capture.",
                                short(" / ".join(getattr(TEXTS, k) for k in fields)), short(" / ".join(fields.values()))))

    # Headings: the text before the list, and the line between the list and the first section.
    heading_why = ""
    if not head.strip() or "\n" in head:
        heading_why = "the text before the hunk list is not one line"
    elif not sections or not between.startswith("\n") or "\n" in between[1:] or not between[1:].strip():
        heading_why = "the diff content's heading is not one line after a blank line"
    verdict("headings", {"hunks_heading": head, "diff_heading": between[1:]}, heading_why, f"{head} … {between}")

    # Untracked and binary files: the hunks whose line has no +A/-D and whose section is no patch.
    groups: dict[tuple[str, str], list[str]] = {}
    for hunk_id in order:
        body = body_of.get(hunk_id)
        if not COUNTS.fullmatch(rest_of[hunk_id]) and body is not None and not body.startswith(PATCH_STARTS):
            groups.setdefault((rest_of[hunk_id], _own_line(body) if hunk_id == last else body), []).append(hunk_id)
    kinds, why = _untracked_and_binary(groups, order) if groups else ({}, "")
    for kind in ("untracked", "binary"):
        part = f"{kind} file"
        if kind not in kinds:
            verdict(part, {}, why or ABSENT + "hunk of this case", "")
            continue
        tag, body = kinds[kind]
        texts = replace(TEXTS, **{f"{kind}_tag": tag, f"{kind}_body": body})
        bad = next((h for h in groups[kinds[kind]] if hunk_line(_stand_in(h, kind), texts) != f"  {h}  {rest_of[h]}"
                    or not _renders_back(body_of[h], h == last, _section(_stand_in(h, kind), texts)[0])), None)
        verdict(part, {f"{kind}_tag": tag, f"{kind}_body": body},
                f"{bad} does not render back exactly" if bad else "", f"{tag} / {body}")

    # Lockfiles: the stat line, with the hunk list's +A/-D of that hunk as fields.
    templates, why = {}, ""
    lockfiles = [h for h in order if is_lockfile(h.rsplit("::", 1)[0]) and COUNTS.fullmatch(rest_of[h]) and h in body_of]
    for hunk_id in lockfiles:
        counts = tuple(map(int, COUNTS.fullmatch(rest_of[hunk_id]).groups()))
        template, why = _lockfile_template(_own_line(body_of[hunk_id]) if hunk_id == last else body_of[hunk_id], counts)
        if template is None:
            why = f"{hunk_id}: {why}"
            break
        templates[hunk_id] = (template, counts)
    if not lockfiles:
        verdict("lockfile section", {}, ABSENT + "lockfile", "")
    elif why or len({t for t, _ in templates.values()}) != 1:
        verdict("lockfile section", {}, why or "its lockfiles' sections do not share one stat line",
                body_of[lockfiles[0]])
    else:
        [template] = {t for t, _ in templates.values()}
        texts = replace(TEXTS, lockfile_body=template)
        bad = next((h for h, (_, counts) in templates.items()
                    if not _renders_back(body_of[h], h == last, _section(_stand_in(h, "text", counts), texts)[0])),
                   None)
        verdict("lockfile section", {"lockfile_body": template}, f"{bad} does not render back exactly" if bad else "",
                template)
    return replace(TEXTS, **derived), findings


# ── the first user message ───────────────────────────────────────────────────────

@cache
def _builtin_cases(texts: RenderTexts = TEXTS) -> dict[str, tuple[str, str]]:
    """case -> (hunk line form, section body form) of the renderer's output for that case with ``texts``."""
    def changed(path: str, body: str) -> str:
        return (f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n"
                f"@@ -1,2 +1,2 @@\n{body}")

    paths = {"changed text": "src/app.py", LOCKFILE: "package-lock.json", LONG: "notes/long.txt",
             "binary file": "img/logo.png", "untracked file": "new_module.py"}
    diff = (changed(paths["changed text"], "-old\n+new\n same\n")
            + changed(paths[LOCKFILE], '-  "version": "1"\n+  "version": "2"\n')
            + changed(paths[LONG], "".join(f"+line {i} of a long hunk\n" for i in range(400)))
            + f"diff --git a/{paths['binary file']} b/{paths['binary file']}\nindex 1111111..2222222 100644\n"
              f"Binary files a/{paths['binary file']} and b/{paths['binary file']} differ\n"
            + f"diff --git a/{paths['untracked file']} b/{paths['untracked file']}\nnew file mode 100644\n"
              f"index 0000000..3333333\n--- /dev/null\n+++ b/{paths['untracked file']}\n@@ -0,0 +1 @@\n+print(1)\n")
    forms = {hunk_id.rsplit("::", 1)[0]: (line, body)
             for hunk_id, line, body in hunk_forms(render_user_turn(example_hunks(diff), texts))}
    return {case: forms[path] for case, path in paths.items()}


@cache
def _builtin_headers(texts: RenderTexts = TEXTS) -> dict:
    return user_turn_layout(render_user_turn(example_hunks(
        "diff --git a/a.py b/a.py\nindex 1..2 100644\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-a\n+b\n"), texts))


def _case_of(hunk_id: str, line: str, body: str, builtin: dict[str, tuple[str, str]]) -> str | None:
    """The built-in case a captured hunk is: by path (a lockfile), by the tool's summary (a long
    hunk), else by the forms it shares with exactly one case."""
    if is_lockfile(hunk_id.rsplit("::", 1)[0]):
        return LOCKFILE
    if "{llm_summary}" in body:
        return LONG
    for same in (lambda forms: forms == (line, body), lambda forms: forms[0] == line, lambda forms: forms[1] == body):
        found = [case for case in FORM_CASES if same(builtin[case])]
        if len(found) == 1:
            return found[0]
    return None


def check_user_turn(user_turn: str, layout: dict, texts: RenderTexts = TEXTS) -> list[Finding]:
    """The capture against the renderer with ``texts`` (the words exports use: ``captured_texts``)."""
    if not hunk_ids(user_turn):
        return [Finding("first user message", NOT_CHECKED, "The captured first user message lists no hunks.")]
    findings = []
    expected_layout = _builtin_headers(texts)
    for key, name in (("hunk_list_header", "hunk list header"), ("diff_header", "diff header"),
                      ("section_header", "section header")):
        want, got = expected_layout[key], layout.get(key, "")
        findings.append(Finding(f"user turn: {name}", OK if want == got else MISMATCH,
                                f"The {name} is the built-in's." if want == got else
                                f"The {name} differs: the built-in writes {short(want)!r}, the capture has {short(got)!r}.",
                                short(want), short(got)))
    builtin = _builtin_cases(texts)
    seen: dict[str, list[tuple[str, str, str]]] = {}
    for hunk_id, line, body in hunk_forms(user_turn, [SUMMARY_TEXT]):
        seen.setdefault(_case_of(hunk_id, line, body, builtin) or "", []).append((hunk_id, line, body))
    for case, (line, body) in builtin.items():
        findings += _check_case(case, line, body, seen.get(case, []))
    for forms in sorted({(line, body) for _, line, body in seen.get("", [])}):
        example = next(h for h, *rest in seen[""] if tuple(rest) == forms)
        findings.append(Finding("user turn: hunk forms", MISMATCH,
                                f"The capture shows {example} as hunk line {short(forms[0])!r} with section "
                                f"{short(forms[1])!r}: a form the built-in never produces.", "", short("\n".join(forms))))
    return findings


def _check_case(case: str, line: str, body: str, hunks: list[tuple[str, str, str]]) -> list[Finding]:
    part = f"user turn: {case}"
    if not hunks:
        return [Finding(part, NOT_CHECKED, f"The capture shows no hunk of this case ({case}), so the built-in's "
                        f"{line.strip()!r} / {short(body)!r} is not checked.", short(f"{line}\n{body}"))]
    findings = []
    for got_line, got_body in sorted({(got_line, got_body) for _, got_line, got_body in hunks}):
        example = next(h for h, x, y in hunks if (x, y) == (got_line, got_body))
        if got_line != line:
            findings.append(Finding(f"{part} (hunk line)", MISMATCH, f"The hunk line of {example} differs: the built-in "
                                    f"writes {line!r}, the capture has {got_line!r}.", line, got_line))
        if case == LONG:
            findings.append(Finding(f"{part} (section)", BY_DESIGN, f"The tool showed {example} as its model's "
                                    "summary; gsctune cannot reproduce that and truncates the hunk with a visible "
                                    "marker instead.", short(body), short(got_body)))
        elif got_body and got_body != body:  # "": past the tool's total cap, the message has no section
            findings.append(Finding(f"{part} (section)", MISMATCH, f"The section of {example} differs: the built-in "
                                    f"writes {short(body)!r}, the capture has {short(got_body)!r}.",
                                    short(body), short(got_body)))
        if got_line == line and case == LONG:
            findings.append(Finding(f"{part} (hunk line)", OK, f"The hunk line of {example} is the built-in's.",
                                    line, got_line))
        elif got_line == line and got_body in (body, ""):
            findings.append(Finding(part, OK, f"{example} is rendered as the built-in renders a hunk of this case.",
                                    short(f"{line}\n{body}"), short(f"{got_line}\n{got_body}")))
    return findings


# ── the whole check ──────────────────────────────────────────────────────────────

def check_version(data: dict) -> RendererCheck:
    """Every finding for one ``to_spec_dict()``-shaped protocol version."""
    user_turn = data.get("user_turn") or ""
    texts, wording = captured_texts(data)
    findings = check_user_turn(user_turn, data.get("user_layout") or user_turn_layout(user_turn, [SUMMARY_TEXT]), texts)
    findings += wording
    if hunk_ids(user_turn):
        findings += check_replies(data.get("replies") or {}, replay(user_turn))
    return RendererCheck(tuple(findings))
