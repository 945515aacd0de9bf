"""The correction editor round-trips every field it shows: saved unchanged, the human label equals
the teacher's (commits, files, bodies, issues, .gitignore), breaking subjects and odd types included.

The fast test reads the editor's fields from the page HTML the way review.js's readEditor() does;
the browser test in test_browser_correction.py does the same with Chromium and the keyboard.
"""

import json
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from gsctune.domain.checks import parse_subject as check_subject
from gsctune.domain.proposal import Proposal
from gsctune.domain.proposal import parse_subject as proposal_subject
from labeling.models import Label, Review
from tests.factories import make_example, make_label

pytestmark = pytest.mark.django_db

ROUND_TRIP_COMMITS = [
    {"subject": "feat!(api): drop the v1 endpoints", "files": ["src/app.py"],
     "body": "The v1 routes are gone.\n\nBREAKING CHANGE: clients must call /v2.", "issues": []},
    {"subject": "feat(api)!: rename load_config to read_config", "files": ["tests/test_app.py"],
     "body": "", "issues": [{"message": "test name still says load_config", "path": "tests/test_app.py"}]},
    {"subject": "security(deps): pin \"requests\" <2.32 & co", "files": ["README.md"],
     "body": "A type outside the conventional list.", "issues": [{"message": "no changelog entry", "path": ""}]},
]
ROUND_TRIP_GITIGNORE = ["*.log", "build/", "!build/keep.txt", "# comment"]


def round_trip_label():
    return make_label(make_example(7), model="teacher-b", commits=ROUND_TRIP_COMMITS,
                      gitignore=ROUND_TRIP_GITIGNORE)


class EditorFields(HTMLParser):
    """What readEditor() reads from the #editor section (the <template> for new commits skipped)."""

    def __init__(self):
        super().__init__()
        self.commits, self.gitignore = [], None
        self._in_editor = self._in_template = False
        self._text_for = None  # ("body", commit) or ("gitignore", None)
        self._select = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and a.get("id") == "editor":
            self._in_editor = True
        if not self._in_editor:
            return
        if tag == "template":
            self._in_template = True
        if self._in_template:
            return
        classes = (a.get("class") or "").split()
        if tag == "fieldset" and "edit-commit" in classes:
            self.commits.append({
                "type": None, "scope": "", "breaking": False, "bang_first": a.get("data-bang-first") == "1",
                "description": "", "body": "", "files": [], "issues": json.loads(a.get("data-issues") or "[]"),
            })
        current = self.commits[-1] if self.commits else None
        if tag == "select" and a.get("name") == "type":
            self._select = True
        elif tag == "option" and self._select and "selected" in a:
            current["type"] = a["value"]
        elif tag == "input" and current is not None and a.get("name") in ("scope", "description"):
            current[a["name"]] = a.get("value") or ""
        elif tag == "input" and current is not None and a.get("name") == "breaking":
            current["breaking"] = "checked" in a
        elif tag == "textarea":
            self._text_for = a.get("name")
            if a["name"] == "gitignore":
                self.gitignore = ""
        elif tag == "li" and current is not None and "data-path" in a:
            current["files"].append(a["data-path"])

    def handle_endtag(self, tag):
        if tag == "template":
            self._in_template = False
        elif tag == "select":
            self._select = False
        elif tag == "textarea":
            self._text_for = None
        elif tag == "section" and self._in_editor and not self._in_template:
            self._in_editor = False

    def handle_data(self, data):
        if self._text_for == "body" and self.commits:
            self.commits[-1]["body"] += data
        elif self._text_for == "gitignore":
            self.gitignore += data


def editor_fields(html: str) -> dict:
    parser = EditorFields()
    parser.feed(html)
    return {"commits": parser.commits, "gitignore": parser.gitignore.split("\n")}


@pytest.mark.parametrize("subject, parts", [
    ("feat!(api): drop v1", ("feat", "api", "drop v1", True)),
    ("feat(api)!: drop v1", ("feat", "api", "drop v1", True)),
    ("feat!: drop v1", ("feat", "", "drop v1", True)),
    ("security(deps): pin", ("security", "deps", "pin", False)),
])
def test_both_subject_grammars_accept_both_breaking_forms(subject, parts):
    assert proposal_subject(subject) == parts
    checked = check_subject(subject)
    assert (checked["type"], checked["scope"] or "", checked["desc"], bool(checked["bang"])) == parts
    assert check_subject("feat!(api)!: twice") is None


def test_a_parsed_proposal_keeps_the_breaking_form_it_was_written_in():
    data = {"commits": [{"subject": s, "files": [f"f{i}"]} for i, s in enumerate(
        ["feat!(api): a", "feat(api)!: b", "fix!: c", "chore(x): d"])], "gitignore": []}
    assert [c["subject"] for c in Proposal.from_dict(data).to_label_dict()["commits"]] == [
        "feat!(api): a", "feat(api)!: b", "fix!: c", "chore(x): d"]


def test_saving_the_editor_unchanged_stores_the_teachers_label(client, django_user_model):
    user = django_user_model.objects.create_user("ann", password="pw-ann-123")
    client.force_login(user)
    label = round_trip_label()
    html = client.get(reverse("review-item", args=[label.pk])).content.decode()
    correction = editor_fields(html)
    assert [c["type"] for c in correction["commits"]] == ["feat", "feat", "security"]
    assert [(c["breaking"], c["bang_first"]) for c in correction["commits"]] == [(True, True), (True, False),
                                                                                  (False, False)]
    response = client.post(reverse("review-verdict", args=[label.pk]),
                           json.dumps({"verdict": "correct", "correction": correction, "token": "rt"}),
                           content_type="application/json")
    assert response.status_code == 200, response.content
    human = Review.objects.get().correction
    assert human.source == Label.Source.HUMAN
    assert human.commits == ROUND_TRIP_COMMITS
    assert human.gitignore == ROUND_TRIP_GITIGNORE
