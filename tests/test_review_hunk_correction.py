"""Hunk-level corrections through the verdict view: the coverage rule (each hunk in exactly one
commit or skipped) is enforced on the server with a message naming the hunks, and a valid one is
stored as a hunk-level human revision (commits[].hunks, files derived, skipped hunks kept)."""
import json
from html import unescape

import pytest
from django.urls import reverse

from labeling.models import Label, Review
from tests.hunk_editor_data import HUNKS, hunk_label

pytestmark = pytest.mark.django_db


def _commit(subject_type, description, hunks):
    return {"type": subject_type, "scope": "", "description": description, "body": "", "issues": [], "hunks": hunks}


def _post(client, label, correction):
    return client.post(reverse("review-verdict", args=[label.pk]),
                       json.dumps({"verdict": "correct", "correction": correction, "token": "t1"}),
                       content_type="application/json")


@pytest.fixture
def reviewer(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("rev", password="pw-rev-123"))
    return client


@pytest.mark.parametrize("correction, message", [
    ({"commits": [_commit("feat", "app", HUNKS[1:4]), _commit("docs", "readme", ["README.md::1"])],
      "skipped_hunks": ["debug.log::1"]},
     "hunks in no commit and not skipped: src/util.py::1, src/util.py::2"),
    ({"commits": [_commit("feat", "app", HUNKS[1:6]), _commit("docs", "readme", ["README.md::1", "src/app.py::2"])],
      "skipped_hunks": ["debug.log::1"]},
     "hunks in more than one place: src/app.py::2 (commit 1 and commit 2)"),
    ({"commits": [_commit("feat", "app", HUNKS[:6])], "skipped_hunks": ["debug.log::1", "src/app.py::1"]},
     "hunks in more than one place: src/app.py::1 (commit 1 and skipped)"),
    ({"commits": [_commit("feat", "app", HUNKS[:6] + ["src/app.py::9"])], "skipped_hunks": ["debug.log::1"]},
     "not hunks of this diff: src/app.py::9"),
])
def test_the_server_refuses_a_correction_that_breaks_the_coverage_rule(reviewer, correction, message):
    label = hunk_label()
    response = _post(reviewer, label, correction)
    assert response.status_code == 400
    assert response.json()["error"] == message
    assert not Review.objects.exists() and Label.objects.count() == 1  # nothing half-written


def test_a_hunk_level_correction_of_a_file_level_label_is_stored_as_a_hunk_level_revision(reviewer):
    label = hunk_label()
    correction = {
        "commits": [_commit("refactor", "extract the helper", ["src/util.py::1", "src/app.py::2"]),
                    _commit("feat", "add the new code paths", ["src/app.py::1", "src/app.py::3", "src/util.py::2"]),
                    _commit("docs", "describe them", ["README.md::1"])],
        "skipped_hunks": ["debug.log::1"],
        "gitignore": ["*.log"],
    }
    response = _post(reviewer, label, correction)
    assert response.status_code == 200, response.content
    revision = Label.objects.get(pk=response.json()["correction"])
    assert revision.source == Label.Source.HUMAN and revision.revision_of_id == label.pk
    assert [(c["subject"], c["hunks"], c["files"]) for c in revision.commits] == [
        ("refactor: extract the helper", ["src/util.py::1", "src/app.py::2"], ["src/util.py", "src/app.py"]),
        ("feat: add the new code paths", ["src/app.py::1", "src/app.py::3", "src/util.py::2"],
         ["src/app.py", "src/util.py"]),
        ("docs: describe them", ["README.md::1"], ["README.md"]),
    ]
    assert revision.skipped_hunks == ["debug.log::1"] and revision.granularity == "hunks"
    assert revision.gitignore == ["*.log"]


def test_a_file_level_correction_keeps_todays_behaviour(reviewer):
    label = hunk_label()
    correction = {"commits": [{"type": "feat", "description": "all", "files": ["src/app.py", "src/util.py"]},
                              {"type": "docs", "description": "readme", "files": ["README.md", "src/app.py"]}]}
    response = _post(reviewer, label, correction)
    assert response.status_code == 400
    assert response.json()["error"] == "commit 2: src/app.py is already in another commit"


def test_the_review_page_shows_each_hunk_with_its_id_and_the_editor_state(reviewer):
    label = hunk_label()
    html = reviewer.get(reverse("review-item", args=[label.pk])).content.decode()
    for hid in HUNKS:
        assert f'data-hunk="{hid}"' in html
    attribute = html.split('id="hunk-editor" data-state="', 1)[1].split('"', 1)[0]
    state = json.loads(unescape(attribute))
    assert [c["hunks"] for c in state["commits"]] == [HUNKS[1:6], ["README.md::1"], ["debug.log::1"]]
    assert [h["id"] for h in state["hunks"] if h["junk"]] == ["debug.log::1"]


def test_a_hunk_level_label_opens_with_its_hunks_where_it_put_them(reviewer):
    label = hunk_label()
    label.commits = [{**label.commits[0], "hunks": ["src/app.py::1", "src/util.py::1", "src/util.py::2"]},
                     {**label.commits[1], "files": ["README.md", "src/app.py"],
                      "hunks": ["README.md::1", "src/app.py::2", "src/app.py::3"]}]
    label.save()
    html = reviewer.get(reverse("review-item", args=[label.pk])).content.decode()
    attribute = html.split('id="hunk-editor" data-state="', 1)[1].split('"', 1)[0]
    state = json.loads(unescape(attribute))
    assert state["hunk_level"] is True
    assert [c["hunks"] for c in state["commits"]] == [
        ["src/app.py::1", "src/util.py::1", "src/util.py::2"], ["README.md::1", "src/app.py::2", "src/app.py::3"]]
    assert state["skipped"] == []  # debug.log::1 is in no commit: the editor shows it uncovered
