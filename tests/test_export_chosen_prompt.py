"""A git-smart-commit export can train under a system prompt chosen on purpose instead of the
protocol's: a prompt version's, or own text. The rows carry it, the manifest's protocol entry says
so ("system_prompt": "chosen", the prompt version or the text's sha256, "differs from what the tool
sends"), the pages flag it, and bad choices are refused by the form and the command, never queued."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from gsctune.domain.protocol import BUILTIN
from gsctune.jobs import JobState, execute_job, run_in_foreground
from labeling.export import snapshot as E
from labeling.export.services import create_export
from labeling.models import ProtocolVersion, SFTExport
from labeling.runs.services import create_prompt_version

from .conftest import browser_login
from .factories import make_example, make_label

pytestmark = pytest.mark.django_db

ALL_ONCE = {"corrected": 1.0, "accepted": 1.0, "unreviewed": 1.0}
CHOSEN = "You are the student. Group the hunks into commits; call emit_commit, then finalize_commits."
OWN = "My own training prompt:\ncall the tools, nothing else."
FLAG = "differs from what the tool sends"
FORM = {
    "include_accepted": "on", "include_corrected": "on", "include_unreviewed": "on",
    "weight_corrected": "1", "weight_accepted": "1", "weight_unreviewed": "1",
    "val_fraction": "0", "seed": "0", "augment": "0", "prompt": "labeling", "max_diff_chars": "24000",
    "target": E.TOOL_TARGET, "read_new_files": "on",
}


@pytest.fixture
def version(settings, tmp_path) -> ProtocolVersion:
    """A captured protocol and three labeled examples to export."""
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    for n in range(1, 4):
        make_label(make_example(n))
    return ProtocolVersion.objects.create(system_prompt="Captured: the tool's own rules.", tools=BUILTIN.tools,
                                          tool_commit="v1.2")


@pytest.fixture
def prompt():
    return create_prompt_version("training prompt", CHOSEN, granularity="hunks")[0]


def tool_opts(**kw) -> E.ExportOptions:
    return E.ExportOptions(target=E.TOOL_TARGET, include_unreviewed=True, val_fraction=0, weights=ALL_ONCE, **kw)


def rows(folder) -> list[dict]:
    return [json.loads(line) for line in (Path(folder) / "train.jsonl").read_text().splitlines()]


def manifest_protocol(folder) -> dict:
    return json.loads((Path(folder) / "manifest.json").read_text())["protocol"]


def test_a_prompt_versions_system_prompt_is_in_every_row_and_flagged_in_the_manifest(version, prompt, tmp_path):
    job = run_in_foreground(create_export(tool_opts(system_prompt_from=str(prompt.pk)), folder=tmp_path,
                                          enqueue=False))
    assert job.state == JobState.SUCCEEDED, job.error
    got = rows(tmp_path)
    assert len(got) == 3
    assert all(r["messages"][0] == {"role": "system", "content": CHOSEN} for r in got)
    assert all(r["tools"] == version.tools for r in got)  # only the system prompt was chosen
    entry = manifest_protocol(tmp_path)
    expected_hash = replace(version.to_spec(), system_prompt=CHOSEN).content_hash
    assert entry == {
        "id": version.pk, "version_hash": version.content_hash, "content_hash": expected_hash,
        "source": "chosen", "captured": True, "tool_name": "git-smart-commit", "tool_commit": "v1.2",
        "renderer_check": version.renderer_check().status, "note": E.CHOSEN_NOTE,
        "system_prompt": "chosen", "system_prompt_from": prompt.pk,
        "system_prompt_sha256": hashlib.sha256(CHOSEN.encode()).hexdigest(),
    }
    assert FLAG in entry["note"]


def test_the_protocols_own_system_prompt_stays_unflagged(version, tmp_path):
    job = run_in_foreground(create_export(tool_opts(), folder=tmp_path, enqueue=False))
    assert job.state == JobState.SUCCEEDED and rows(tmp_path)[0]["messages"][0]["content"] == version.system_prompt
    entry = manifest_protocol(tmp_path)
    assert entry["source"] == "captured" and "system_prompt" not in entry and entry["note"] == ""


def test_own_text_from_the_command(version, tmp_path, capsys):
    text_file = tmp_path / "prompt.txt"
    text_file.write_text(OWN, encoding="utf-8")
    out = tmp_path / "out"
    call_command("export_sft", "--out", str(out), "--target", "git-smart-commit", "--include-unreviewed",
                 "--weight", "unreviewed=1", "--val-fraction", "0", "--system-prompt-file", str(text_file))
    job = SFTExport.objects.get(pk=int(capsys.readouterr().out.strip()))
    assert job.options["system_prompt_from"] == E.OWN_TEXT and job.options["system_prompt_text"] == OWN
    assert {r["messages"][0]["content"] for r in rows(out)} == {OWN}
    entry = manifest_protocol(out)
    assert (entry["system_prompt"], entry["system_prompt_from"], entry["source"]) == ("chosen", None, "chosen")
    assert entry["system_prompt_sha256"] == hashlib.sha256(OWN.encode()).hexdigest()


@pytest.mark.parametrize(("args", "message"), [
    (["--system-prompt-from", "999"], "--system-prompt-from '999': no such prompt version"),
    (["--system-prompt-from", "abc"], "--system-prompt-from: a prompt version id or 'text', got 'abc'"),
    (["--system-prompt-file", "EMPTY"], "--system-prompt-file: empty"),
    (["--system-prompt-file", "MISSING"], "--system-prompt-file "),
    (["--system-prompt-from", "1", "--system-prompt-file", "EMPTY"], "not allowed with argument"),
    (["--system-prompt-file", "EMPTY", "--target", "json-files"], "--system-prompt-file: only a git-smart-commit"),
])
def test_the_command_refuses_bad_choices(version, tmp_path, args, message):
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    args = [{"EMPTY": str(tmp_path / "empty.txt"), "MISSING": str(tmp_path / "missing.txt")}.get(a, a) for a in args]
    if "--target" not in args:
        args += ["--target", "git-smart-commit"]
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        call_command("export_sft", "--out", str(tmp_path / "out"), "--include-unreviewed", *args)
    assert not SFTExport.objects.exists() and not (tmp_path / "out").exists()


def test_a_prompt_version_deleted_before_submitting_is_refused_not_queued(version, prompt, tmp_path):
    pk = prompt.pk
    prompt.delete()
    with pytest.raises(ValueError, match=f"system_prompt_from '{pk}': no such prompt version"):
        create_export(tool_opts(system_prompt_from=str(pk)), folder=tmp_path)
    assert not SFTExport.objects.exists()


def test_options_refuse_what_cannot_apply():
    with pytest.raises(ValueError, match="system_prompt_from: only a git-smart-commit export"):
        E.ExportOptions(system_prompt_from="3")
    with pytest.raises(ValueError, match="system_prompt_text: empty"):
        tool_opts(system_prompt_from=E.OWN_TEXT, system_prompt_text=" \n")
    with pytest.raises(ValueError, match="system_prompt_text: given, but system_prompt_from is ''"):
        tool_opts(system_prompt_text="stray")


def test_the_django_free_export_does_not_drop_the_choice_silently(tmp_path):
    record = {"example": {}, "label": {}}
    with pytest.raises(ValueError, match="system_prompt_from: the chosen system prompt was not applied"):
        E.export([record], tool_opts(system_prompt_from=E.OWN_TEXT, system_prompt_text=OWN), str(tmp_path))


# ── the page ───────────────────────────────────────────────────────────────────────

def target_fieldset(page: str) -> str:
    """The Target fieldset of the export form, where its fields' errors are shown."""
    start = page.index('<fieldset><legend>Target</legend>')
    return page[start:page.index("</fieldset>", start)]


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"system_prompt_from": "999"}, "system_prompt_from", "Select a valid choice. 999 is not one of the available"),
    ({"system_prompt_from": "text", "system_prompt_text": "   "}, "system_prompt_text", "system_prompt_text: empty"),
    ({"system_prompt_from": "text", "system_prompt_text": "x", "target": "json-files"}, "system_prompt_from",
     "system_prompt_from: only a git-smart-commit export"),
])
def test_the_form_refuses_bad_choices_under_the_field(version, staff_client, data, field, message):
    response = staff_client.post(reverse("export-list"), {**FORM, **data})
    assert response.status_code == 200 and not SFTExport.objects.exists()
    form = response.context["form"]
    assert list(form.errors) == [field] and message in form.errors[field][0]
    assert message.replace("'", "&#x27;") in target_fieldset(response.content.decode())


def test_the_pages_flag_a_chosen_system_prompt(version, prompt, staff_client, django_capture_on_commit_callbacks):
    page = staff_client.get(reverse("export-list")).content.decode()
    assert f'<option value="{prompt.pk}">{prompt} · hunk level</option>' in page
    assert '<option value="text">own text below</option>' in page
    with django_capture_on_commit_callbacks(execute=False):
        response = staff_client.post(reverse("export-list"), {**FORM, "system_prompt_from": str(prompt.pk)})
    job = SFTExport.objects.get()
    assert response["Location"] == job.get_absolute_url()
    flag = (f'· system prompt: <a href="{prompt.get_absolute_url()}">prompt version #{prompt.pk}</a> — {FLAG}</span>')
    assert flag in staff_client.get(job.get_absolute_url()).content.decode()  # queued: from its options
    execute_job(job.job_label, job.pk)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.error
    detail = staff_client.get(job.get_absolute_url()).content.decode()
    assert flag in detail and f"protocol #{version.pk}</a>" in detail
    sha = hashlib.sha256(CHOSEN.encode()).hexdigest()[:12]
    assert (f'<dd class="warning">chosen: prompt version #{prompt.pk}, sha256 <code>{sha}</code> — {FLAG}</dd>'
            in detail)
    assert flag in staff_client.get(reverse("export-list")).content.decode()  # the snapshots list
    assert "system prompt: prompt version" in job.serves.text


def test_own_text_is_shown_by_its_hash(version, staff_client, tmp_path):
    job = run_in_foreground(create_export(tool_opts(system_prompt_from=E.OWN_TEXT, system_prompt_text=OWN),
                                          folder=tmp_path, enqueue=False))
    sha = hashlib.sha256(OWN.encode()).hexdigest()[:12]
    detail = staff_client.get(job.get_absolute_url()).content.decode()
    assert f"· system prompt: own text {sha} — {FLAG}</span>" in detail
    assert f"chosen: own text, sha256 <code>{sha}</code>" in detail


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not os.path.exists(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")),
                    reason="Debian's chromium is not installed (scripts/ensure_chromium.sh)")
def test_the_export_pages_show_the_chosen_prompt_in_a_browser(version, prompt, staff_user, live_server, page, tmp_path):
    job = run_in_foreground(create_export(tool_opts(system_prompt_from=str(prompt.pk)), folder=tmp_path / "x",
                                          name="chosen prompt", enqueue=False))
    browser_login(page, live_server, "staff", "pw-staff-123")
    page.goto(live_server.url + job.get_absolute_url())
    flag = page.locator("#export-target .protocol-source.chosen")
    assert flag.is_visible() and flag.inner_text() == f"· system prompt: prompt version #{prompt.pk} — {FLAG}"
    assert page.locator("#chosen-system-prompt").is_visible()
    page.screenshot(path=str(tmp_path / "export-detail.png"), full_page=True)
    page.goto(live_server.url + reverse("export-list"))
    page.select_option("select[name=system_prompt_from]", str(prompt.pk))
    assert page.locator("td .protocol-source.chosen").first.is_visible()  # the snapshots list
    page.screenshot(path=str(tmp_path / "export-list.png"), full_page=True)
