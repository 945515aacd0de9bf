"""Layouts of what the tool sends and replies, with the repository's own values taken out.

A capture holds texts that depend on the repository it ran in (paths, counts, patches).
To compare two captures (the drift guard) and to hash a protocol version, gsctune keeps
the *layout*: the same texts with hunk ids, paths, subjects, numbers and patches replaced
by named placeholders. Two captures of the same tool in repositories showing the same
rendering cases have the same layout.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import re

# A line of the hunk list: two spaces, the id, two spaces, what the tool says about it.
HUNK_LINE = re.compile(r"^  (?P<id>\S(?:.*?\S)?::\d+)  (?P<rest>\S.*)$")
DIGITS = re.compile(r"\d+")
# An inline list of ids ("a::1, b::2" or "['a::1', 'b::2']") is one form whatever its length.
ID_RUN = re.compile(r"\{hunk_id\}([^\w\n{}]{1,4})\{hunk_id\}(?:\1\{hunk_id\})*")
# Parts of the layout that the content hash covers (the skeleton and what the tool appended
# after the last section are for reading only).
HASHED_LAYOUT_KEYS = ("hunk_list_header", "hunk_line_forms", "diff_header", "section_header", "body_forms")


def hunk_ids(user_turn: str) -> list[str]:
    """Hunk ids of the first user message, in the order the tool lists them."""
    ids: list[str] = []
    for line in user_turn.splitlines():
        m = HUNK_LINE.match(line)
        if m and m["id"] not in ids:
            ids.append(m["id"])
        elif ids and not line.strip():
            break  # the list ends at its first blank line
    return ids


def _placeholders(text: str, ids: list[str], extra: dict[str, str] | None = None) -> str:
    """Replace known values (longest first, so ``a.py::10`` goes before ``a.py::1``) by placeholders."""
    values = {**(extra or {})}
    for hunk_id in ids:
        values.setdefault(hunk_id, "{hunk_id}")
    for hunk_id in ids:
        values.setdefault(hunk_id.rsplit("::", 1)[0], "{path}")
    for value in sorted((v for v in values if v), key=len, reverse=True):
        text = text.replace(value, f"\0{values[value]}\0")
    parts = text.split("\0")
    # Even parts are literal text (digits become {n}); odd parts are placeholders already.
    text = "".join(DIGITS.sub("{n}", p) if i % 2 == 0 else p for i, p in enumerate(parts))
    return ID_RUN.sub(lambda m: "{hunk_id}" + m[1] + "…", text)


def _collapse(lines: list[str]) -> list[str]:
    """Runs of identical lines become one (a list of 3 ids and one of 30 have the same layout)."""
    out: list[str] = []
    for line in lines:
        if not out or out[-1] != line:
            out.append(line)
    return out


def _sections(body: str, ids: list[str]) -> list[tuple[str, str, str]]:
    """(header line, hunk id, section body) for each ``--- id ---`` section of the diff part."""
    known = set(ids)
    header_of = {}
    lines = body.split("\n")
    found = []
    for i, line in enumerate(lines):
        if len(line) > 6 and line.startswith("---") and line.endswith("---") and line[3:-3].strip() in known:
            header_of[i] = line[3:-3].strip()
            found.append(i)
    sections = []
    for n, start in enumerate(found):
        end = found[n + 1] if n + 1 < len(found) else len(lines)
        sections.append((lines[start], header_of[start], "\n".join(lines[start + 1:end]).strip("\n")))
    return sections


def user_turn_layout(user_turn: str, summaries: list[str] | None = None) -> dict:
    """The first user message's structure: list header, hunk line forms, diff header, section forms.

    ``summaries`` are the texts the capture answered to the tool's summary requests: where
    the tool put them into the message they become ``{llm_summary}``.
    """
    ids = hunk_ids(user_turn)
    extra = {s.strip(): "{llm_summary}" for s in summaries or [] if s.strip()}
    lines = user_turn.split("\n")
    first_hunk = next((i for i, line in enumerate(lines) if HUNK_LINE.match(line)), None)
    layout = {
        "hunk_list_header": "\n".join(lines[:first_hunk]).strip() if first_hunk is not None else "",
        "hunk_line_forms": sorted({_placeholders(line, ids) for line in lines if HUNK_LINE.match(line)}),
        "diff_header": "",
        "section_header": "",
        "body_forms": [],
        "n_hunks": len(ids),
    }
    end_of_list, rest, sections, appended = _diff_part(lines, first_hunk, ids)
    before = rest.split(sections[0][0], 1)[0] if sections else rest
    if sections:
        layout["diff_header"] = before.strip()
        layout["section_header"] = _placeholders(sections[0][0], ids)
        layout["body_forms"] = sorted({_body_form(body, ids, extra) for _, _, body in sections})
    layout["appended"] = _placeholders(appended.strip("\n"), ids, extra)
    head = [_placeholders(line, ids, extra) if HUNK_LINE.match(line) else line for line in lines[:end_of_list]]
    shown = [f"{_placeholders(header, ids)}\n{_body_form(body, ids, extra)}" for header, _, body in sections]
    layout["skeleton"] = ("\n".join(_collapse(head)) + "\n" + before + "\n\n".join(_collapse(shown))
                          + (f"\n\n{layout['appended']}" if layout["appended"] else ""))
    return layout


def _diff_part(lines: list[str], first_hunk: int | None, ids: list[str]) -> tuple[int, str, list, str]:
    """(index of the first line after the hunk list, the text from there, its sections, what follows them)."""
    end_of_list = first_hunk or 0
    while end_of_list < len(lines) and HUNK_LINE.match(lines[end_of_list]):
        end_of_list += 1
    rest = "\n".join(lines[end_of_list:])
    sections = _sections(rest, ids)
    appended = ""
    if sections:
        # What the tool appends after the last section (the omitted-hunks line, a critique,
        # the user's own issue patterns from git config or .smart-commit.toml) follows a
        # blank line, which no section body has: kept apart and out of the hash, as it
        # depends on the repository and the user's settings, not on the tool.
        header, hunk_id, body = sections[-1]
        body, _, appended = body.partition("\n\n")
        sections[-1] = (header, hunk_id, body)
    return end_of_list, rest, sections, appended


def hunk_forms(user_turn: str, summaries: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(hunk id, its hunk line's form, its section body's form) per listed hunk, in list order;
    the body form is "" for a hunk the message has no section for (past the total cap)."""
    ids = hunk_ids(user_turn)
    extra = {s.strip(): "{llm_summary}" for s in summaries or [] if s.strip()}
    lines = user_turn.split("\n")
    first_hunk = next((i for i, line in enumerate(lines) if HUNK_LINE.match(line)), None)
    end_of_list, _, sections, _ = _diff_part(lines, first_hunk, ids)
    line_of = {}
    for line in lines[first_hunk or 0:end_of_list]:
        line_of.setdefault(HUNK_LINE.match(line)["id"], _placeholders(line, ids))
    body_of = {}
    for _, hunk_id, body in sections:
        body_of.setdefault(hunk_id, _body_form(body, ids, extra))
    return [(hunk_id, line_of.get(hunk_id, ""), body_of.get(hunk_id, "")) for hunk_id in ids]


def raw_parts(user_turn: str) -> tuple[str, list[tuple[str, str]], str, list[tuple[str, str]]]:
    """The first message cut where the tool joins it, values kept: (text before the hunk list,
    (hunk id, what its line says after the id) per line, text between the list and the first
    section, (hunk id, section body) per section). The tool joins sections with a blank line;
    the last body runs to the end of the message, with whatever the tool appended after it."""
    ids = hunk_ids(user_turn)
    lines = user_turn.split("\n")
    first_hunk = next((i for i, line in enumerate(lines) if HUNK_LINE.match(line)), None)
    if first_hunk is None:
        return user_turn, [], "", []
    end_of_list = first_hunk
    while end_of_list < len(lines) and HUNK_LINE.match(lines[end_of_list]):
        end_of_list += 1
    listing = [(m["id"], m["rest"]) for m in map(HUNK_LINE.match, lines[first_hunk:end_of_list])]
    known = set(ids)
    starts = [i for i in range(end_of_list, len(lines)) if len(lines[i]) > 6 and lines[i].startswith("---")
              and lines[i].endswith("---") and lines[i][3:-3].strip() in known]
    between = "\n".join(lines[end_of_list:starts[0] if starts else len(lines)])
    sections = []
    for n, start in enumerate(starts):
        last = n + 1 == len(starts)
        chunk = "\n".join(lines[start + 1:len(lines) if last else starts[n + 1]])
        # A body followed by the blank line before the next section ends in one "\n" more.
        sections.append((lines[start][3:-3].strip(), chunk if last else chunk[:-1]))
    return "\n".join(lines[:first_hunk]), listing, between, sections


def _body_form(body: str, ids: list[str], extra: dict[str, str]) -> str:
    """A section body's form: ``{patch}`` for a diff, else the text with its values taken out."""
    return "{patch}" if body.startswith(("diff --git", "@@")) else _placeholders(body, ids, extra)


def reply_layout(text: str, ids: list[str], subject: str = "", summary: str = "") -> str:
    """A tool reply with its subject, ids and numbers replaced by placeholders.

    ``summary`` is the capture's answer to summary requests: a reply the tool summarized
    before sending shows it as ``{llm_summary}``.
    """
    extra = {k: v for k, v in ((subject, "{subject}"), (summary, "{llm_summary}")) if k}
    return "\n".join(_collapse(_placeholders(text, ids, extra).split("\n")))


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, indent=2)


def content_hash(system_prompt: str, tools: list, user_layout: dict, reply_layouts: dict) -> str:
    """sha256 over what makes the protocol: system prompt, tools, and the layouts (not the repository's values)."""
    hashed = {
        "system_prompt": system_prompt,
        "tools": tools,
        "user_layout": {k: user_layout.get(k) for k in HASHED_LAYOUT_KEYS},
        "reply_layouts": reply_layouts,
    }
    return hashlib.sha256(canonical_json(hashed).encode()).hexdigest()


def drift_diff(old: dict, new: dict, old_name: str = "stored", new_name: str = "captured") -> str:
    """Unified diff of system prompt, tools, user-turn layout and reply layouts ("" when equal).

    ``old`` and ``new`` are ``to_spec_dict()``-shaped dicts.
    """
    parts = []
    for title, key, render in (
        ("system prompt", "system_prompt", lambda v: v or ""),
        ("tools", "tools", canonical_json),
        ("user-turn layout", "user_layout", lambda v: canonical_json({k: (v or {}).get(k) for k in HASHED_LAYOUT_KEYS})),
        ("reply layouts", "reply_layouts", canonical_json),
    ):
        a, b = render(old.get(key)), render(new.get(key))
        if a != b:
            parts.extend(difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="",
                                              fromfile=f"{title} ({old_name})", tofile=f"{title} ({new_name})"))
    return "".join(f"{line}\n" for line in parts)
