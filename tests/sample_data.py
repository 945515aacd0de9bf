"""The suite's own harvested sample: small git repositories built here, harvested by `manage.py harvest`.

A fresh clone has no ``../shared/data``: every test that needs real-looking harvested
examples reads this sample instead. Eleven repositories (like the shared sample's
eleven) with deterministic multi-commit histories in Python, Go, Rust, JavaScript,
C, Elixir, Ruby and shell (each of the first four in two or more repositories), a
Markdown README and changelog, manifests with their lockfiles, renames, deletions,
a binary asset, CI files, nested .gitignore files, a wide refactor and a merge.
Histories are written with ``git fast-import`` (fixed authors and dates, so the
shas and the harvested file are the same on every machine) and harvested with the
project's real harvest command; the records are interleaved round-robin by
repository, as the shared sample is, so the first n lines span several
repositories. Built once per test process, in well under ten seconds.

``SHARED_SAMPLE`` is the optional larger sample, for the few tests about it (they skip without it).
"""
from __future__ import annotations

import atexit
import functools
import hashlib
import io
import json
import random
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_SAMPLE = ROOT.parent / "shared" / "data" / "harvest-public.jsonl"

PER_REPO = 16  # examples harvested from each repository
HARVEST_SEED = 0
EPOCH = 1_600_000_000  # first commit's time; each later commit is a few hours on

_WORDS = ("timeout", "session", "header", "cookie", "redirect", "stream", "buffer", "cache", "config", "render",
          "format", "color", "pager", "theme", "match", "search", "walk", "ignore", "glob", "filter", "sort",
          "score", "query", "route", "flag", "command", "completion", "escape", "token", "path", "retry",
          "encoding", "proxy", "limit", "window", "preview", "history", "layout", "parser", "lexer")
_VERBS = ("parse", "load", "build", "check", "resolve", "split", "merge", "apply", "read", "write", "clean",
          "normalize", "expand", "count", "select")

# Per language: file header, function template, footer, test-file pattern.
_LANG = {
    "python": ("", 'def {name}(value):\n    """{doc}."""\n    return value + {k}\n\n\n', "", "tests/test_{stem}.py",
               "py"),
    "go": ("package {pkg}\n\n", "// {Name} handles {doc}.\nfunc {Name}(value int) int {{\n\treturn value + {k}\n}}\n\n",
           "", "{dir}/{stem}_test.go", "go"),
    "rust": ("//! {doc}\n\n", "/// {doc}.\npub fn {name}(value: i64) -> i64 {{\n    value + {k}\n}}\n\n", "",
             "tests/{stem}.rs", "rs"),
    "javascript": ("'use strict';\n\n", "// {doc}.\nfunction {name}(value) {{\n  return value + {k};\n}}\n\n",
                   "module.exports = {{}};\n", "test/{stem}.test.js", "js"),
    "c": ("#include \"{stem}.h\"\n\n", "/* {doc}. */\nint {name}(int value) {{\n    return value + {k};\n}}\n\n", "",
          "tests/{stem}_test.c", "c"),
    "elixir": ("defmodule {Mod} do\n  @moduledoc \"{doc}\"\n\n", "  # {doc}.\n  def {name}(value) do\n    value + {k}\n"
               "  end\n\n", "end\n", "test/{stem}_test.exs", "ex"),
    "ruby": ("module {Mod}\n", "  # {doc}.\n  def self.{name}(value)\n    value + {k}\n  end\n\n", "end\n",
             "test/test_{stem}.rb", "rb"),
    "shell": ("#!/bin/sh\nset -eu\n\n", "{name}() {{\n  # {doc}\n  echo \"$1\" | tr -d ' ' | head -c {k}\n}}\n\n",
              "", "", "sh"),
}

# Manifest and lockfile per ecosystem (None: no lockfile).
_MANIFEST = {
    "python": ("pyproject.toml", "uv.lock"), "go": ("go.mod", "go.sum"), "rust": ("Cargo.toml", "Cargo.lock"),
    "javascript": ("package.json", "package-lock.json"), "ruby": ("Gemfile", "Gemfile.lock"),
    "elixir": ("mix.exs", "mix.lock"), "c": ("configure.ac", None),
}


@dataclass(frozen=True)
class RepoSpec:
    url: str  # github.com/owner/name
    branch: str
    language: str
    src: str  # source folder
    extra: tuple[str, ...] = ()  # other languages with a file of their own
    nested_gitignore: bool = False
    merge: bool = False


REPOS = (
    RepoSpec("github.com/acme/courier", "main", "python", "src/courier", ("shell",), nested_gitignore=True),
    RepoSpec("github.com/acme/clickly", "main", "python", "clickly", merge=True),
    RepoSpec("github.com/webkit-tools/flasket", "main", "python", "flasket", ("javascript",)),
    RepoSpec("github.com/gophers/cobweb", "main", "go", "cmd"),
    RepoSpec("github.com/gophers/fuzzyfind", "master", "go", "src", ("shell", "python", "javascript"), merge=True),
    RepoSpec("github.com/rustaceans/greprs", "master", "rust", "crates/core"),
    RepoSpec("github.com/rustaceans/batview", "master", "rust", "src", ("c",), nested_gitignore=True),
    RepoSpec("github.com/nodefolk/expressive", "master", "javascript", "lib"),
    RepoSpec("github.com/nodefolk/jsonq", "master", "c", "src", ("shell",)),
    RepoSpec("github.com/elixirists/docforge", "main", "elixir", "lib/docforge", ("javascript",)),
    RepoSpec("github.com/rubyists/gemkit", "main", "ruby", "lib/gemkit", ("c",)),
)


@dataclass
class SourceFile:
    language: str
    path: str
    functions: list[tuple[str, str, int]] = field(default_factory=list)  # name, doc, constant

    def render(self) -> str:
        header, template, footer, _, _ = _LANG[self.language]
        stem = Path(self.path).stem
        names = dict(pkg=Path(self.path).parent.name.replace("-", "") or "main", stem=stem,
                     Mod="".join(p.title() for p in stem.split("_")), doc=f"{stem.replace('_', ' ')} helpers")
        body = "".join(template.format(name=n, Name=n.title().replace("_", ""), doc=d, k=k, **{
            key: v for key, v in names.items() if key != "doc"}) for n, d, k in self.functions)
        return header.format(**names) + body + footer.format(**names)


class History:
    """One repository's files and commits, as a `git fast-import` stream."""

    def __init__(self, spec: RepoSpec):
        self.spec = spec
        self.rng = random.Random(spec.url)
        self.files: dict[str, str | bytes] = {}
        self.sources: dict[str, SourceFile] = {}
        self.stream = io.BytesIO()
        self.mark = 0
        self.version = [1, 0, 0]
        self.owner, self.name = spec.url.split("/")[1:]

    # -- writing the stream ---------------------------------------------------------------------------
    def _data(self, payload: bytes) -> None:
        self.stream.write(b"data %d\n" % len(payload) + payload + b"\n")

    def commit(self, message: str, changes: dict[str, str | bytes | None], renames=(), ref: str | None = None,
               parent: int | None = None, merge: int | None = None) -> int:
        self.mark += 1
        when = EPOCH + self.mark * 3 * 3600 + self.rng.randrange(3600)
        author = self.rng.choice(("Ada Lovelace <ada@example.org>", "Linus Pauling <linus@example.org>",
                                  "Grace Hopper <grace@example.org>", f"{self.owner} bot <bot@{self.owner}.dev>"))
        self.stream.write(f"commit refs/heads/{ref or self.spec.branch}\nmark :{self.mark}\n"
                          f"author {author} {when} +0000\ncommitter {author} {when} +0000\n".encode())
        self._data(message.encode())
        if parent:
            self.stream.write(f"from :{parent}\n".encode())
        if merge:
            self.stream.write(f"merge :{merge}\n".encode())
        for old, new in renames:
            self.stream.write(f'R "{old}" "{new}"\n'.encode())
            self.files[new] = self.files.pop(old)
        for path, content in changes.items():
            if content is None:
                self.stream.write(f'D "{path}"\n'.encode())
                self.files.pop(path, None)
            else:
                self.stream.write(f'M 100644 inline "{path}"\n'.encode())
                self._data(content if isinstance(content, bytes) else content.encode())
                self.files[path] = content
        self.stream.write(b"\n")
        return self.mark

    # -- content --------------------------------------------------------------------------------------
    def _word(self) -> str:
        return self.rng.choice(_WORDS)

    def _function(self, source: SourceFile) -> tuple[str, str, int]:
        taken = {n for n, _, _ in source.functions}
        for _ in range(50):
            name = f"{self.rng.choice(_VERBS)}_{self._word()}"
            if name not in taken:
                break
        else:
            name = f"{self.rng.choice(_VERBS)}_{self._word()}_{len(taken)}"
        return name, f"{self._word()} {self._word()} for {self.name}", self.rng.randrange(1, 500)

    def _source(self, language: str, path: str, n: int = 3) -> dict[str, str]:
        source = SourceFile(language, path)
        for _ in range(n):
            source.functions.append(self._function(source))
        self.sources[path] = source
        changes = {path: source.render()}
        test = self._test_for(source)
        if test:
            changes[test] = self._test_text(source)
        return changes

    def _test_for(self, source: SourceFile) -> str | None:
        pattern = _LANG[source.language][3]
        if not pattern:
            return None
        return pattern.format(stem=Path(source.path).stem, dir=str(Path(source.path).parent))

    def _test_text(self, source: SourceFile) -> str:
        lines = [f"# checks for {source.path} in {self.name}"]
        lines += [f"assert {n}({k}) == {2 * k}  # {d}" for n, d, k in source.functions]
        return "\n".join(lines) + "\n"

    def _manifest(self) -> dict[str, str]:
        eco = self.spec.language
        manifest, lock = _MANIFEST[eco]
        version = ".".join(map(str, self.version))
        deps = sorted({self._word() + "-lib" for _ in range(3)} | {f"{self.name}-core"})
        out = {manifest: f"# {manifest} of {self.spec.url}\nname = \"{self.name}\"\nversion = \"{version}\"\n"
                         + "".join(f"dependency \"{d}\" = \"^{len(d) % 4}.{self.version[1]}\"\n" for d in deps)}
        if lock:
            out[lock] = "".join(f"[[package]]\nname = \"{d}\"\nversion = \"{len(d) % 4}.{self.version[1]}.{i}\"\n"
                                f"checksum = \"{(hash_hex(self.spec.url + d + version))}\"\n\n"
                                for i, d in enumerate(deps))
        return out

    def _readme(self, sections: list[str]) -> str:
        return (f"# {self.name}\n\n{self.name} is a small {self.spec.language} project by {self.owner}.\n\n"
                + "".join(f"## {s.title()}\n\nHow {self.name} deals with {s}: see `{self.spec.src}`.\n\n"
                          for s in sections))

    def build(self) -> bytes:
        spec, lang = self.spec, self.spec.language
        ext = _LANG[lang][4]
        initial: dict[str, str | bytes | None] = {
            ".gitignore": f"# {self.name}\n" + {"python": "__pycache__/\n*.pyc\n.venv/\n", "go": "/bin/\n*.test\n",
                           "rust": "/target\n", "javascript": "node_modules/\ncoverage/\n",
                           "c": "*.o\n/build/\n", "elixir": "/_build/\n/deps/\n", "ruby": "/pkg/\n*.gem\n"}[lang],
            "README.md": self._readme(["install", "usage"]), "CHANGELOG.md": f"- {self.name} 1.0.0: first release\n",
            ".github/workflows/ci.yml": f"name: {self.name} ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
                                        f"    steps:\n      - uses: actions/checkout@v4\n      - run: make test-{lang}\n",
            **self._manifest(),
        }
        if spec.nested_gitignore:
            initial["docs/.gitignore"] = "_build\n"
            initial["docs/index.md"] = f"# {self.name} documentation\n"
        for stem in ("core", "util", "legacy"):
            initial.update(self._source(lang, f"{spec.src}/{stem}.{ext}"))
        for extra in spec.extra:
            x_ext = _LANG[extra][4]
            folder = {"shell": "scripts", "javascript": "assets/js", "c": "ext"}.get(extra, "extra")
            role = "tool" if extra == "shell" else "glue"
            initial.update(self._source(extra, f"{folder}/{self.name}_{role}.{x_ext}"))
        last = self.commit("Initial commit", initial)
        for i in range(1, 26):
            changes: dict[str, str | bytes | None] = {}
            renames = []
            if i == 5:  # a rename, with a small edit of the renamed file
                old = f"{spec.src}/util.{ext}"
                new = f"{spec.src}/helpers.{ext}"
                renames.append((old, new))
                source = self.sources.pop(old)
                source.path = new
                source.functions.append(self._function(source))
                self.sources[new] = source
                changes[new] = source.render()
                message = "Rename util to helpers"
            elif i == 9:  # a deletion
                victim = f"{spec.src}/legacy.{ext}"
                source = self.sources.pop(victim)
                changes[victim] = None
                test = self._test_for(source)
                if test and test in self.files:
                    changes[test] = None
                message = f"Remove {Path(victim).name}, unused since the rewrite"
            elif i == 12:  # a binary asset: spans holding it are skipped by the harvest
                changes["assets/logo.png"] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
                message = "Add logo"
            elif i == 17:  # a wide refactor over many files
                for k in range(14):
                    path = f"{spec.src}/parts/{self._word()}_{k}.{ext}"
                    changes.update(self._source(lang, path, n=4))
                message = f"Split {self.name} core into parts"
            elif i in (7, 15, 23) and spec.extra:  # the other languages' files
                for source in [s for s in self.sources.values() if s.language != lang]:
                    source.functions.append(self._function(source))
                    changes[source.path] = source.render()
                message = f"Update the {' and '.join(spec.extra)} parts"
            elif i in (3, 14, 21):
                self.version[1] += 1
                changes.update(self._manifest())
                message = f"Bump dependencies for {'.'.join(map(str, self.version))}"
            else:
                message = self._edit(changes, i)
            if spec.merge and i == 19:  # a side branch merged back: first-parent spans skip the merge
                side_changes = {f"{spec.src}/side_{self.name}.{ext}": f"side work {self.name}\n"}
                side = self.commit("Work on a side branch", side_changes, ref="side", parent=last)
                last = self.commit("Merge branch 'side'", {}, parent=last, merge=side)
                continue
            last = self.commit(message, changes, renames=renames, parent=last)
        return self.stream.getvalue()

    def _edit(self, changes: dict, i: int) -> str:
        """An ordinary commit: code, tests, docs, CI or ignore rules, alone or mixed."""
        spec = self.spec
        kind = self.rng.choice(("func", "func", "edit", "edit", "newmod", "docs", "mixed", "ci", "ignore"))
        pool = list(self.sources)
        if kind in ("func", "mixed"):
            source = self.sources[self.rng.choice(pool)]
            fn = self._function(source)
            source.functions.append(fn)
            changes[source.path] = source.render()
            test = self._test_for(source)
            if test:
                changes[test] = self._test_text(source)
            message = self.rng.choice((f"Add {fn[0]}", f"feat: add {fn[0].replace('_', ' ')}",
                                       f"Support {fn[1].split(' for ')[0]}"))
            if kind == "mixed":
                changes["CHANGELOG.md"] = self.files["CHANGELOG.md"] + f"- add {fn[0]}\n"
            return message
        if kind == "edit":
            source = self.sources[self.rng.choice(pool)]
            j = self.rng.randrange(len(source.functions))
            name, doc, k = source.functions[j]
            source.functions[j] = (name, doc, k + self.rng.randrange(1, 9))
            changes[source.path] = source.render()
            return self.rng.choice((f"Fix off-by-one in {name}", f"fix({Path(source.path).stem}): correct {name}",
                                    f"Handle {self._word()} edge case"))
        if kind == "newmod":
            lang = self.rng.choice((spec.language,) * 3 + spec.extra)
            ext = _LANG[lang][4]
            folder = spec.src if lang == spec.language else {"shell": "scripts"}.get(lang, f"extra/{lang}")
            changes.update(self._source(lang, f"{folder}/{self._word()}_{i}.{ext}", n=2))
            return f"Add {self._word()} module"
        if kind == "docs":
            text = self.files["README.md"]
            section = self._word()
            changes["README.md"] = text + f"## {section.title()}\n\nNotes on {section} in {self.name}.\n\n"
            if "docs/index.md" in self.files:
                changes["docs/index.md"] = self.files["docs/index.md"] + f"\n* {section}\n"
            return self.rng.choice(("Update README", f"docs: describe {section}", "Document the new options"))
        if kind == "ci":
            ci = self.files[".github/workflows/ci.yml"]
            changes[".github/workflows/ci.yml"] = ci + f"      - run: make lint-{i}\n"
            return self.rng.choice(("ci: run the linter", "Add lint step to CI"))
        changes[".gitignore"] = self.files[".gitignore"] + self.rng.choice(("*.log\n", "/dist/\n", ".cache/\n",
                                                                              f"/{self._word()}-out/\n"))
        return "Ignore generated files"


def hash_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _git(*args: str, cwd: Path, stdin: bytes | None = None) -> None:
    subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=cwd, input=stdin, check=True,
                   capture_output=True)


def build_repository(spec: RepoSpec, root: Path) -> Path:
    """Create one repository under root (origin set, so its repo_url is spec.url)."""
    repo = root / spec.url.replace("/", "_")
    repo.mkdir(parents=True)
    _git("init", "-q", cwd=repo)
    _git("remote", "add", "origin", f"git@{spec.url.replace('/', ':', 1)}.git", cwd=repo)
    _git("fast-import", "--quiet", "--date-format=raw", stdin=History(spec).build(), cwd=repo)
    _git("symbolic-ref", "HEAD", f"refs/heads/{spec.branch}", cwd=repo)
    return repo


def build_repositories(root: Path) -> list[Path]:
    return [build_repository(spec, root) for spec in REPOS]


def harvest_file(repo: Path, out: Path, count: int = PER_REPO, seed: int = HARVEST_SEED) -> list[str]:
    """`manage.py harvest --repo REPO --count N --seed S --output OUT`; the lines it wrote."""
    from django.core.management import call_command

    call_command("harvest", "--repo", str(repo), "--count", str(count), "--seed", str(seed), "--output", str(out),
                 stdout=io.StringIO(), stderr=io.StringIO())
    return out.read_text(encoding="utf-8").splitlines(keepends=True)


def _round_robin(per_repo: list[list[str]]) -> list[str]:
    out = []
    for i in range(max(map(len, per_repo))):
        out += [lines[i] for lines in per_repo if i < len(lines)]
    return out


@functools.cache
def _built() -> tuple[Path, tuple[Path, ...]]:
    root = Path(tempfile.mkdtemp(prefix="gsctune-sample-"))
    atexit.register(shutil.rmtree, root, True)
    repos = build_repositories(root / "repos")
    with ThreadPoolExecutor(max_workers=4) as pool:  # git processes run in parallel
        lines = _round_robin(list(pool.map(lambda repo: harvest_file(repo, root / f"{repo.name}.jsonl"), repos)))
    path = root / "harvest-sample.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    return path, tuple(repos)


def sample_path() -> Path:
    """The generated sample's JSONL file (do not write to it)."""
    return _built()[0]


def sample_repositories() -> tuple[Path, ...]:
    """The generated repositories (read-only: other tests harvest them)."""
    return _built()[1]


def sample_lines() -> list[str]:
    return sample_path().read_text(encoding="utf-8").splitlines(keepends=True)


def sample_examples() -> list[dict]:
    """A fresh parsed copy of every generated example (callers may change it)."""
    return [json.loads(line) for line in sample_lines()]
