"""A small evaluator for the subset of Go's text/template that gsctune's Modelfile templates use.

Go templates cannot run here, so tests render Modelfile templates with this: text and ``{{ }}`` actions with
``{{-`` / ``-}}`` whitespace trimming, ``if`` / ``else if`` / ``else`` / ``end``, ``range`` (over a list, with
``.`` set to each item), field chains (``.Role``, ``.Function.Name``, ``$.Messages``), string literals and the
functions ``eq``, ``ne``, ``and``, ``or``, ``not``, ``len``. Values print as Ollama prints them: strings as they
are, objects (a tool, tool-call arguments) as compact JSON. Anything outside the subset raises, so a template
that grows past it fails its test instead of rendering wrongly.
"""

from __future__ import annotations

import json
import re

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\(|\)|[^\s()]+')


def _lex(template: str) -> list[tuple[str, str]]:
    """("text", s) and ("action", body) items, with trim markers applied to the neighbouring text."""
    items: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for m in _ACTION.finditer(template):
        text = template[pos:m.start()]
        if trim_next:
            text = text.lstrip()
        if m.group(1):
            text = text.rstrip()
        items.append(("text", text))
        items.append(("action", m.group(2).strip()))
        trim_next = bool(m.group(3))
        pos = m.end()
    tail = template[pos:]
    items.append(("text", tail.lstrip() if trim_next else tail))
    return items


def _parse(items, i=0, stop=("end",)):
    """A node list up to one of the ``stop`` keywords; returns (nodes, index of the stop action, its body)."""
    nodes = []
    while i < len(items):
        kind, body = items[i]
        if kind == "text":
            nodes.append(("text", body))
            i += 1
            continue
        word = body.split(None, 1)[0] if body else ""
        if word in ("end", "else"):
            if word not in stop and not (word == "else" and "else" in stop):
                raise ValueError(f"unexpected {{{{ {body} }}}}")
            return nodes, i, body
        if word == "if":
            branches = []
            cond = body[2:].strip()
            i += 1
            while True:
                block, i, closing = _parse(items, i, stop=("end", "else"))
                branches.append((cond, block))
                if closing == "end":
                    break
                rest = closing[4:].strip()
                cond = rest[2:].strip() if rest.startswith("if") else None
                i += 1
            nodes.append(("if", branches))
            i += 1
            continue
        if word == "range":
            expr = body[5:].strip()
            var = None
            if ":=" in expr:
                var, expr = (s.strip() for s in expr.split(":=", 1))
            block, i, _ = _parse(items, i + 1, stop=("end",))
            nodes.append(("range", expr, var, block))
            i += 1
            continue
        nodes.append(("print", body))
        i += 1
    if stop != ("<eof>",):
        raise ValueError("missing {{ end }}")
    return nodes, i, ""


def _truthy(value) -> bool:
    return bool(value)


def _field(value, name: str):
    if isinstance(value, dict):
        if name not in value:
            raise KeyError(f"no field {name} in {sorted(value)}")
        return value[name]
    raise KeyError(f"field {name} of a non-object {value!r}")


class _Scope:
    def __init__(self, root):
        self.root = root
        self.vars: dict[str, object] = {"$": root}


def _eval_tokens(tokens: list[str], dot, scope: _Scope):
    if not tokens:
        raise ValueError("empty pipeline")
    head, args = tokens[0], tokens[1:]
    funcs = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "not": lambda a: not _truthy(a), "len": len}
    if head in funcs:
        vals = _args(args, dot, scope)
        return funcs[head](*vals)
    if head in ("and", "or"):
        vals = _args(args, dot, scope)
        result = vals[0]
        for v in vals[1:]:
            if (head == "and") != _truthy(result):
                break
            result = v
        return result
    if args:
        raise ValueError(f"unknown function {head!r}")
    return _term(head, dot, scope)


def _args(tokens, dot, scope):
    vals, i = [], 0
    while i < len(tokens):
        if tokens[i] == "(":
            depth, j = 1, i + 1
            while depth:
                depth += {"(": 1, ")": -1}.get(tokens[j], 0)
                j += 1
            vals.append(_eval_tokens(tokens[i + 1:j - 1], dot, scope))
            i = j
        else:
            vals.append(_term(tokens[i], dot, scope))
            i += 1
    return vals


def _term(token: str, dot, scope: _Scope):
    if token.startswith('"'):
        return json.loads(token)
    if token == ".":
        return dot
    if token.startswith("$"):
        name, _, path = token.partition(".")
        value = scope.vars[name]
    elif token.startswith("."):
        value, path = dot, token[1:]
    else:
        raise ValueError(f"unsupported term {token!r}")
    for part in filter(None, path.split(".")):
        value = _field(value, part)
    return value


def _show(value) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"))


def _run(nodes, dot, scope: _Scope, out: list[str]) -> None:
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "print":
            out.append(_show(_eval_tokens(_TOKEN.findall(node[1]), dot, scope)))
        elif node[0] == "if":
            for cond, block in node[1]:
                if cond is None or _truthy(_eval_tokens(_TOKEN.findall(cond), dot, scope)):
                    _run(block, dot, scope, out)
                    break
        elif node[0] == "range":
            _, expr, var, block = node
            for item in _eval_tokens(_TOKEN.findall(expr), dot, scope) or []:
                if var:
                    scope.vars[var] = item
                _run(block, item, scope, out)


def render(template: str, data: dict) -> str:
    nodes, _, _ = _parse(_lex(template), stop=("<eof>",))
    out: list[str] = []
    _run(nodes, data, _Scope(data), out)
    return "".join(out)
