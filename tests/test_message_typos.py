"""User-facing messages without doubled words ("at at column"), in the code and as produced at run time."""
import ast
import re
from pathlib import Path

from gsctune.domain.proposal import parse_proposal

ROOT = Path(__file__).resolve().parent.parent
APPS = ("gsctune", "labeling", "training", "evaluation")
DOUBLED = re.compile(r"\b([a-z]{2,}) \1\b")  # lowercase: "run RUN" (a metavar) is not a typo


def _python_strings():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}", node.value


def _template_texts():
    """Each run of text between tags: a button's text and the table header after it are not one sentence."""
    for path in sorted((ROOT / "templates").rglob("*.html")):
        for text in re.split(r"{%.*?%}|{{.*?}}|<[^>]+>", path.read_text(encoding="utf-8")):
            yield str(path.relative_to(ROOT)), text


def test_no_message_repeats_a_word():
    found = [(where, m.group(0)) for source in (_python_strings(), _template_texts())
             for where, text in source for m in DOUBLED.finditer(" ".join(text.split()))]
    assert found == []


def test_a_json_syntax_error_in_an_answer_reads_cleanly():
    result = parse_proposal('{"commits": [{"subject": "fix: a\tb", "files": ["a"]}]}')
    assert not result.ok
    assert result.error.startswith("invalid JSON at line 1 column ")
    assert result.error.endswith(": Invalid control character")
    assert not DOUBLED.search(result.error)
