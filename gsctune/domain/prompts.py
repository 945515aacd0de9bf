"""Prompt texts and the exact messages sent to teachers and to the finetuned model.

The user turn format is shared by labeling, the SFT export, evaluation and the
offline baseline server (which parses it back with ``parse_user_turn``), so it
lives here once.
"""

from __future__ import annotations

from dataclasses import dataclass

from gsctune.domain.noise import apply_noise

DEFAULT_PROMPT_NAME = "default-v1"

DEFAULT_SYSTEM_PROMPT = """\
You are an expert software engineer who turns an uncommitted git working tree into a clean, \
reviewable series of commits. You receive the list of changed files and the full `git diff` of \
the working tree. Split the change into the commits a careful developer would have made and \
write each commit message.

Rules:
1. Conventional Commits. Every subject is `type(scope): description`, `type` one of feat, fix, \
docs, style, refactor, perf, test, build, ci, chore, revert. The scope is the component or \
directory touched, short and lower-case; omit the parentheses when there is no sensible scope. \
The description is imperative ("add", not "added"), lower-case first word, no trailing period, \
and does not repeat the type ("fix(parser): fix ..." is wrong). The whole subject is at most \
72 characters.
2. Whole-file rule: every changed file belongs to exactly one commit. Never split a file across \
commits and never list a file twice. Every changed file that is not junk appears in some commit; \
never list a file that is not in the change.
3. Tests go with the code they test, in the same commit. Documentation that describes a code \
change goes with that change; stand-alone documentation edits get their own docs commit.
4. Dependency files go with their cause: a manifest and its lockfile (package.json and \
package-lock.json, Cargo.toml and Cargo.lock, go.mod and go.sum, pyproject.toml and its lock) \
go together, and with the code that needed the new dependency. A pure version bump is its own \
build (or chore(deps)) commit.
5. Order commits so that each one builds on the previous: refactors and dependencies before the \
features that use them.
6. Junk never gets committed: OS metadata (.DS_Store, Thumbs.db), bytecode and caches \
(__pycache__/, *.pyc, .pytest_cache/), editor swap and backup files (*.swp, *~), IDE folders \
(.idea/, .vscode/), build output and source maps, secret files (.env), package-manager logs. \
Leave them out of every commit and list a .gitignore pattern for each in `gitignore`. Do not \
repeat patterns the repository already ignores.
7. The body explains what changed and why, in plain sentences wrapped at 72 characters, using \
only what the diff shows: never invent motivations, ticket numbers, benchmarks or identifiers \
that do not occur in the diff. Leave the body empty for trivial commits.
8. `issues` lists real problems you notice in the diff (a leftover debug print, a committed \
secret, a likely bug, a TODO that the change should have resolved) as {"message", "path"}; \
an empty list when there are none.
"""

DEFAULT_OUTPUT_FORMAT = """\
Answer with one JSON object and nothing else (no prose, no Markdown fences):
{"commits": [{"subject": "type(scope): description", "files": ["path", ...], \
"body": "text or empty string", "issues": [{"message": "text", "path": "path"}]}], \
"gitignore": ["pattern", ...]}
`commits` is in commit order; `body` is a string; `gitignore` may be empty."""

DEFAULT_SAMPLE_OUTPUT = """\
{"commits": [{"subject": "refactor(config): extract settings loader", "files": \
["src/app/config.py", "tests/test_config.py"], "body": "Move environment parsing out of main()\\n\
into load_settings() so that it can be tested on its own.", "issues": []}, {"subject": \
"feat(cli): add --verbose flag", "files": ["src/app/cli.py", "README.md"], "body": "", \
"issues": [{"message": "print() left in the debug branch", "path": "src/app/cli.py"}]}], \
"gitignore": ["__pycache__/", ".DS_Store"]}"""

FINETUNE_SYSTEM_PROMPT = (
    "Split the working tree below into conventional commits. Answer with JSON only: "
    '{"commits": [{"subject", "files", "body", "issues"}], "gitignore": [...]}. '
    "Every changed file in exactly one commit, junk files only in gitignore."
)

FILES_HEADER = "Changed files:"
DIFF_HEADER = "Diff:"
TRUNCATION_MARKER = "[diff truncated: {shown} of {total} characters shown]"
_TRUNC_PREFIX = "[diff truncated: "


@dataclass(frozen=True)
class PromptSpec:
    """The three texts of a prompt version (the PromptVersion model has the same fields)."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    output_format: str = DEFAULT_OUTPUT_FORMAT
    sample_output: str = DEFAULT_SAMPLE_OUTPUT


DEFAULT_PROMPT = PromptSpec()


def system_text(prompt) -> str:
    """System message of a labeling prompt: rules, output format, sample output."""
    parts = [prompt.system_prompt.strip()]
    if prompt.output_format.strip():
        parts.append(prompt.output_format.strip())
    if prompt.sample_output.strip():
        parts.append("Example of a valid answer:\n" + prompt.sample_output.strip())
    return "\n\n".join(parts)


def truncate_diff(diff: str, max_chars: int | None) -> tuple[str, bool]:
    """Cut at a line boundary and add a visible marker so the model knows it is partial."""
    if not max_chars or len(diff) <= max_chars:
        return diff, False
    cut = diff.rfind("\n", 0, max_chars)
    cut = cut + 1 if cut > 0 else max_chars
    return diff[:cut] + TRUNCATION_MARKER.format(shown=cut, total=len(diff)) + "\n", True


def build_user_turn(changed_files: list[str], diff: str, max_diff_chars: int | None = None) -> str:
    """The user turn: changed files, then the (possibly truncated) diff."""
    shown, _ = truncate_diff(diff, max_diff_chars)
    listing = "\n".join(f"- {f}" for f in changed_files)
    return f"{FILES_HEADER}\n{listing}\n\n{DIFF_HEADER}\n{shown}"


def parse_user_turn(text: str) -> tuple[list[str], str, bool]:
    """Recover (files, diff, truncated) from a user turn built by build_user_turn."""
    if not text.startswith(FILES_HEADER + "\n"):
        raise ValueError(f"user turn does not start with {FILES_HEADER!r}")
    sep = f"\n\n{DIFF_HEADER}\n"
    idx = text.find(sep)
    if idx == -1:
        raise ValueError(f"user turn has no {DIFF_HEADER!r} section")
    listing = text[len(FILES_HEADER) + 1: idx]
    files = [line[2:] for line in listing.split("\n") if line.startswith("- ")]
    diff = text[idx + len(sep):]
    truncated = False
    last = diff.rstrip("\n").rsplit("\n", 1)[-1]
    if last.startswith(_TRUNC_PREFIX):
        truncated = True
        diff = diff[: diff.rstrip("\n").rfind(last)]
    return files, diff, truncated


def example_view(example: dict, noise=None) -> tuple[list[str], str]:
    """Files and diff the model sees for a harvested example, junk merged in."""
    files = list(example.get("changed_files") or [])
    diff = example.get("diff") or ""
    if noise is not None and noise.injected:
        return apply_noise(files, diff, noise)
    return files, diff


def build_messages(example: dict, prompt=DEFAULT_PROMPT, max_diff_chars: int | None = None,
                   noise=None) -> list[dict]:
    """The exact labeling messages for one example (reproducible from stored data)."""
    files, diff = example_view(example, noise)
    return [
        {"role": "system", "content": system_text(prompt)},
        {"role": "user", "content": build_user_turn(files, diff, max_diff_chars)},
    ]


def build_finetune_messages(changed_files: list[str], diff: str, max_diff_chars: int | None = None) -> list[dict]:
    """System + user turns for the finetuned model (SFT export and evaluation)."""
    return [
        {"role": "system", "content": FINETUNE_SYSTEM_PROMPT},
        {"role": "user", "content": build_user_turn(changed_files, diff, max_diff_chars)},
    ]


def build_repair_message(error: str) -> dict:
    """The user turn that tells the model what was wrong with its last answer."""
    return {
        "role": "user",
        "content": (
            f"Your answer could not be used: {error}.\n"
            "Reply again with only the corrected JSON object in the required format, nothing else."
        ),
    }
