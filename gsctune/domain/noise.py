"""Deterministic junk-file injection.

Real working trees carry junk (``.DS_Store``, ``__pycache__``, swap files,
``.env``...) that a good commit tool routes to ``.gitignore`` instead of
committing. Harvested history has none, so labeling injects 1-3 junk files per
example with a probability, deterministically per (example key, seed): the
same run reproduces the same messages, and checks/evaluation know exactly
which files were junk.
"""

from __future__ import annotations

import posixpath
import random
from dataclasses import dataclass, field

from gsctune.domain.gitignore import is_ignored
from gsctune.domain.seeding import seeded_random

# Each entry: category, path template ({dir} = a directory of the change, {stem}
# and {name} from a changed file), gitignore pattern covering it, and kind.
CATALOGUE: tuple[dict, ...] = (
    {"category": "os", "path": "{dir}.DS_Store", "pattern": ".DS_Store", "kind": "binary"},
    {"category": "os", "path": "{dir}Thumbs.db", "pattern": "Thumbs.db", "kind": "binary"},
    {"category": "os", "path": "{dir}desktop.ini", "pattern": "desktop.ini", "kind": "desktop_ini"},
    {"category": "bytecode", "path": "{dir}__pycache__/{stem}.cpython-311.pyc", "pattern": "__pycache__/", "kind": "binary"},
    {"category": "bytecode", "path": "{dir}{stem}.pyc", "pattern": "*.pyc", "kind": "binary"},
    {"category": "bytecode", "path": ".pytest_cache/v/cache/lastfailed", "pattern": ".pytest_cache/", "kind": "lastfailed"},
    {"category": "bytecode", "path": ".mypy_cache/3.11/{stem}.meta.json", "pattern": ".mypy_cache/", "kind": "mypy_meta"},
    {"category": "editor", "path": "{dir}.{name}.swp", "pattern": "*.swp", "kind": "binary"},
    {"category": "editor", "path": "{dir}{name}~", "pattern": "*~", "kind": "backup"},
    {"category": "editor", "path": "{dir}.#{name}", "pattern": ".#*", "kind": "emacs_lock"},
    {"category": "ide", "path": ".idea/workspace.xml", "pattern": ".idea/", "kind": "idea_workspace"},
    {"category": "ide", "path": ".vscode/settings.json", "pattern": ".vscode/", "kind": "vscode_settings"},
    {"category": "build", "path": "dist/{stem}.min.js.map", "pattern": "*.map", "kind": "sourcemap"},
    {"category": "build", "path": "build/{stem}.o", "pattern": "build/", "kind": "binary"},
    {"category": "build", "path": "{dir}{stem}.o", "pattern": "*.o", "kind": "binary"},
    {"category": "secrets", "path": ".env", "pattern": ".env", "kind": "dotenv"},
    {"category": "secrets", "path": "{dir}.env.local", "pattern": ".env.local", "kind": "dotenv"},
    {"category": "logs", "path": "npm-debug.log", "pattern": "npm-debug.log*", "kind": "npm_log"},
    {"category": "logs", "path": "yarn-error.log", "pattern": "yarn-error.log", "kind": "yarn_log"},
    {"category": "logs", "path": "pip-log.txt", "pattern": "pip-log.txt", "kind": "pip_log"},
)

JUNK_PATTERNS: tuple[str, ...] = tuple(dict.fromkeys(e["pattern"] for e in CATALOGUE))


@dataclass
class Noise:
    injected: bool
    files: list[str] = field(default_factory=list)
    diff: str = ""
    gitignore: list[str] = field(default_factory=list)


def junk_pattern_for(path: str) -> str | None:
    """The catalogue pattern that covers a path, if it is known junk."""
    for pattern in JUNK_PATTERNS:
        if is_ignored(path, (pattern,)):
            return pattern
    return None


def _hex(rng: random.Random, n: int = 7) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _text_content(kind: str, rng: random.Random, stem: str) -> list[str]:
    if kind == "desktop_ini":
        return ["[.ShellClassInfo]", f"IconResource=C:\\Windows\\System32\\imageres.dll,{rng.randint(1, 200)}"]
    if kind == "lastfailed":
        return ["{", f'  "tests/test_{stem}.py::test_{stem}_{rng.randint(1, 9)}": true', "}"]
    if kind == "mypy_meta":
        return ['{"data_mtime": %d, "dep_lines": [1, 3], "hash": "%s", "id": "%s"}'
                % (rng.randint(1_600_000_000, 1_800_000_000), _hex(rng, 40), stem)]
    if kind == "backup":
        return [f"# backup of {stem}", f"TODO = {rng.randint(1, 99)}"]
    if kind == "emacs_lock":
        return [f"user@laptop.{rng.randint(1000, 99999)}:{rng.randint(1_600_000_000, 1_800_000_000)}"]
    if kind == "idea_workspace":
        return ['<?xml version="1.0" encoding="UTF-8"?>', '<project version="4">',
                '  <component name="ChangeListManager">',
                f'    <list default="true" id="{_hex(rng, 8)}-{_hex(rng, 4)}" name="Changes" />',
                "  </component>", "</project>"]
    if kind == "vscode_settings":
        return ["{", '  "editor.formatOnSave": true,', f'  "python.defaultInterpreterPath": "/home/dev/.venvs/{stem}/bin/python"', "}"]
    if kind == "sourcemap":
        return ['{"version":3,"file":"%s.min.js","sources":["../src/%s.js"],"mappings":"AAAA,SAASA;%s"}'
                % (stem, stem, _hex(rng, 12).upper())]
    if kind == "dotenv":
        return [f"DATABASE_URL=postgres://dev:{_hex(rng, 12)}@localhost:5432/{stem}",
                f"SECRET_KEY={_hex(rng, 32)}", "DEBUG=1"]
    if kind == "npm_log":
        return ["0 info it worked if it ends with ok", "1 verbose cli [ '/usr/bin/node', '/usr/bin/npm', 'install' ]",
                f"2 error code E{rng.choice(['RESOLVE', 'NOENT', 'ACCES'])}"]
    if kind == "yarn_log":
        return ["Arguments: ", "  /usr/bin/node /usr/share/yarn/bin/yarn.js install",
                f"Trace: Error: connect ETIMEDOUT 104.16.{rng.randint(0, 255)}.{rng.randint(0, 255)}:443"]
    if kind == "pip_log":
        return [f"Collecting {stem}", "  Could not find a version that satisfies the requirement"]
    raise ValueError(f"unknown junk kind {kind}")


def _hunk(path: str, kind: str, rng: random.Random, stem: str) -> str:
    head = f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..{_hex(rng)}\n"
    if kind == "binary":
        return head + f"Binary files /dev/null and b/{path} differ\n"
    lines = _text_content(kind, rng, stem)
    body = "".join(f"+{line}\n" for line in lines)
    return head + f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n" + body


def make_noise(example_key: str, changed_files: list[str], seed: int, probability: float = 0.3,
               existing_gitignore: list[str] | tuple[str, ...] = ()) -> Noise:
    """Decide and build the junk for one example; same inputs, same junk."""
    rng = seeded_random(f"{example_key}\0{seed}")
    if rng.random() >= probability:
        return Noise(injected=False)
    files = [f for f in changed_files if f]
    anchor = files[rng.randrange(len(files))] if files else "main.py"
    directory = posixpath.dirname(anchor)
    dir_prefix = f"{directory}/" if directory else ""
    name = posixpath.basename(anchor)
    stem = name.split(".")[0] or "module"
    wanted = rng.randint(1, 3)
    entries = list(CATALOGUE)
    rng.shuffle(entries)
    taken: set[str] = set()
    chosen: list[tuple[str, dict]] = []
    existing = set(changed_files)
    for entry in entries:
        if len(chosen) == wanted:
            break
        path = entry["path"].format(dir=dir_prefix, stem=stem, name=name)
        if entry["category"] in taken or path in existing or is_ignored(path, existing_gitignore):
            continue
        taken.add(entry["category"])
        chosen.append((path, entry))
    if not chosen:
        return Noise(injected=False)
    chosen.sort(key=lambda pe: pe[0])
    diff = "".join(_hunk(path, entry["kind"], rng, stem) for path, entry in chosen)
    patterns = list(dict.fromkeys(entry["pattern"] for _, entry in chosen))
    return Noise(injected=True, files=[p for p, _ in chosen], diff=diff, gitignore=patterns)


def apply_noise(changed_files: list[str], diff: str, noise: Noise) -> tuple[list[str], str]:
    """The changed files and diff a model sees: junk files and hunks appended.

    Appending (rather than merging in path order) keeps ``example.diff + label.noise_diff``
    equal to what the model saw, which is how labels store it.
    """
    if not noise.injected:
        return list(changed_files), diff
    files = list(changed_files) + [f for f in noise.files if f not in changed_files]
    sep = "\n" if diff and not diff.endswith("\n") else ""
    return files, diff + sep + noise.diff
