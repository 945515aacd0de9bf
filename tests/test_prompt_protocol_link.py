"""A hunk-level prompt version links the protocol version it was made from (PromptVersion.protocol_version).

The one-click button and ``manage.py hunk_prompt`` set the link through one service; migration
0009 fills it for older hunk-level prompts whose system prompt equals exactly one stored version's;
pages read the link (no text match per row), so the review queue's query count does not grow
with its rows.
"""
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.db.models import ProtectedError
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from gsctune.domain.hunk_proposal import hunk_prompt
from gsctune.domain.protocol import BUILTIN
from labeling.labels import store_label
from labeling.models import Label, PromptVersion, ProtocolVersion, Teacher
from labeling.runs.services import create_prompt_version, hunk_prompt_from_protocol

from . import hunk_data
from .factories import make_example
from .migration_state import migrate_to

pytestmark = pytest.mark.django_db


def captured(text: str = "Captured: group the hunks.") -> ProtocolVersion:
    return ProtocolVersion.objects.create(system_prompt=text, tools=BUILTIN.tools, tool_commit="v1.2")


def hunk_labels(prompt, numbers) -> list[Label]:
    teacher, _ = Teacher.objects.get_or_create(name="teacher-a", base_url="http://127.0.0.1:9/v1", model="model-a")
    return [store_label(Label(example=make_example(n, diff=hunk_data.DIFF, files=hunk_data.EXAMPLE["changed_files"]),
                              source=Label.Source.TEACHER, model="model-a", granularity="hunks", teacher=teacher,
                              prompt_version=prompt, commits=hunk_data.HUNK_LABEL["commits"], gitignore=["*.log"],
                              skipped_hunks=["debug.log::1"], injected_files=["debug.log"]))
            for n in numbers]


def queue_queries(client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("review-queue"))
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content.decode()


def test_review_queue_queries_do_not_grow_with_hunk_level_rows(staff_client, capsys):
    version = captured()
    prompt, _ = hunk_prompt_from_protocol(version)
    hunk_labels(prompt, [1])
    one, _ = queue_queries(staff_client)
    hunk_labels(prompt, range(2, 51))
    fifty, page = queue_queries(staff_client)
    assert page.count(f'<a href="{version.get_absolute_url()}">protocol #{version.pk}</a>') == 50
    with capsys.disabled():
        print(f"\nreview queue queries: 1 hunk-level item {one}, 50 items {fifty}")
    assert fifty == one


def linked_fragment(version: ProtocolVersion) -> str:
    return (f'<span class="muted">· system prompt of</span> <a href="{version.get_absolute_url()}">'
            f'protocol #{version.pk}</a> <code>{version.content_hash[:12]}</code>')


def test_the_button_links_the_prompt_and_its_page_shows_the_protocol(staff_client):
    version = captured()
    response = staff_client.post(reverse("protocol-hunk-prompt", args=[version.pk]))
    prompt = PromptVersion.objects.get(granularity="hunks")
    assert response["Location"] == prompt.get_absolute_url()
    assert prompt.protocol_version == version
    page = staff_client.get(prompt.get_absolute_url()).content.decode()
    assert linked_fragment(version) in page


def test_the_command_links_the_prompt(db):
    older, latest = captured("First rules."), captured("Second rules.")
    said = io.StringIO()
    call_command("hunk_prompt", stdout=said)
    assert PromptVersion.objects.get(granularity="hunks").protocol_version == latest
    call_command("hunk_prompt", protocol=older.pk, stdout=said)
    assert PromptVersion.objects.get(system_prompt="First rules.").protocol_version == older
    assert f"from protocol version {older.pk}" in said.getvalue()


def test_the_link_is_exact_not_a_text_match(staff_client):
    """A hand-made prompt with a protocol's system prompt is its own; a later protocol with the same
    text does not take over a prompt made from an earlier one."""
    first = captured()
    made, _ = hunk_prompt_from_protocol(first)
    spec = hunk_prompt(first.system_prompt)
    own, _ = create_prompt_version("by hand", spec.system_prompt, "Answer as JSON.", granularity="hunks")
    page = staff_client.get(own.get_absolute_url()).content.decode()
    assert "own system prompt" in page and first.get_absolute_url() not in page
    second = ProtocolVersion.objects.create(system_prompt=first.system_prompt, tools=[], tool_commit="v2")
    again, created = hunk_prompt_from_protocol(second)
    assert (again, created, again.protocol_version) == (made, False, first)
    assert linked_fragment(first) in staff_client.get(made.get_absolute_url()).content.decode()


def test_an_unused_unlinked_prompt_with_the_same_texts_gets_the_link_a_used_one_keeps_its_texts(db):
    version = captured()
    spec = hunk_prompt(version.system_prompt)
    unlinked, _ = create_prompt_version("pasted", spec.system_prompt, spec.output_format, spec.sample_output,
                                        granularity="hunks")
    linked, created = hunk_prompt_from_protocol(version)
    assert (linked.pk, created, linked.protocol_version) == (unlinked.pk, False, version)
    hunk_labels(linked, [1])  # now used: the link is part of what cannot change
    linked.protocol_version = None
    with pytest.raises(ValidationError, match="cannot change"):
        linked.save()


def test_a_protocol_a_prompt_was_made_from_cannot_be_deleted(db):
    version = captured()
    hunk_prompt_from_protocol(version)
    with pytest.raises(ProtectedError):
        version.delete()


def test_built_in_system_prompt_still_shows_the_built_in_protocol(staff_client):
    spec = hunk_prompt()
    prompt, _ = create_prompt_version("hunks, built in", spec.system_prompt, spec.output_format, spec.sample_output,
                                      granularity="hunks")
    page = staff_client.get(prompt.get_absolute_url()).content.decode()
    assert '<a href="/labeling/protocols/">built-in protocol</a>' in page


# ── migration 0009 ────────────────────────────────────────────────────────────────

BEFORE = [("labeling", "0008_hunk_granularity")]
AFTER = [("labeling", "0009_promptversion_protocol_version")]


@pytest.mark.django_db(transaction=True)
def test_migration_links_existing_hunk_prompts_and_reverses():
    old = migrate_to(BEFORE)
    Protocol, Prompt = old.get_model("labeling", "ProtocolVersion"), old.get_model("labeling", "PromptVersion")
    Protocol.objects.create(system_prompt="Shared rules.", content_hash="p1")  # older: the latest wins
    latest = Protocol.objects.create(system_prompt="Shared rules.", content_hash="p2")
    alone = Protocol.objects.create(system_prompt="Alone.", content_hash="p3")
    rows = {"shared": ("Shared rules.", "hunks"), "alone": ("Alone.", "hunks"), "own": ("Mine.", "hunks"),
            "near": ("Alone. ", "hunks"), "files": ("Alone.", "files")}
    for name, (text, granularity) in rows.items():
        Prompt.objects.create(name=name, system_prompt=text, granularity=granularity, content_hash=name)
    try:
        new = migrate_to(AFTER)
        links = dict(new.get_model("labeling", "PromptVersion").objects.values_list("name", "protocol_version_id"))
        assert links == {"shared": latest.pk, "alone": alone.pk, "own": None, "near": None, "files": None}
        back = migrate_to(BEFORE)
        names = set(back.get_model("labeling", "PromptVersion").objects.values_list("name", flat=True))
        assert names == set(rows)  # nothing lost on the way back
        again = migrate_to(AFTER)
        assert again.get_model("labeling", "PromptVersion").objects.get(name="alone").protocol_version_id == alone.pk
    finally:
        migrate_to()
