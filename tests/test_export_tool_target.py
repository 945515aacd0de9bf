"""Export target git-smart-commit: rows are ``tool_export.tool_record``'s conversations,
pinned to a protocol version the manifest names; they load with ``datasets``, the training
mask covers exactly the assistant tool calls, and both backends train on them (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from gsctune.domain.baseline import BASELINE_MODEL, label
from gsctune.domain.hunk_proposal import example_hunk_view
from gsctune.domain.protocol import BUILTIN, ProtocolSpec
from gsctune.domain.tool_export import record_line, tool_record
from gsctune.jobs import JobState, run_in_foreground
from labeling.export import snapshot as E
from labeling.export.services import create_export, default_target
from labeling.models import ProtocolVersion, SFTExport
from tests.factories import make_example, make_label
from tests.fixtures_training import unsloth_missing
from tests.sample_data import sample_examples
from tests.test_export import make_record

ROOT = Path(__file__).resolve().parents[1]
CAPTURED = ProtocolSpec(system_prompt="The tool's own system prompt, as captured.", tools=BUILTIN.tools,
                        source="captured", tool_commit="abc123")
ALL_ONCE = {"corrected": 1.0, "accepted": 1.0, "unreviewed": 1.0}


@pytest.fixture(scope="module")
def records() -> list[dict]:
    """Every 3rd example of the generated sample, labeled by the offline baseline (file level)."""
    out = []
    for i, ex in enumerate(sample_examples()):
        if i % 3 == 0:
            rec = make_record(ex, i + 1)
            rec["label"].update(label(ex["changed_files"], ex["diff"]).to_label_dict(), model=BASELINE_MODEL)
            out.append(rec)
    return out


def tool_options(**kw) -> E.ExportOptions:
    return E.ExportOptions(target=E.TOOL_TARGET, val_fraction=0.2, weights=ALL_ONCE, **kw)


@pytest.fixture(scope="module")
def tool_export(records, tmp_path_factory):
    out = tmp_path_factory.mktemp("tool")
    info = E.protocol_info(CAPTURED, 7)
    return E.export(records, tool_options(augment=1), str(out), spec=CAPTURED, protocol=info), out


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_rows_are_the_tool_records_of_the_labels(tool_export, records):
    result, out = tool_export
    expected, refused = set(), {}
    for rec in records:
        try:
            expected.add(record_line(tool_record(rec["example"], rec["label"], spec=CAPTURED)))
        except ValueError as exc:
            refused[rec["label"]["id"]] = str(exc)
    assert len(expected) >= 10
    augmented = {p["key"] for p in result.manifest["records"] if p["augmented_rows"]}
    plain = set(lines(out / "val.jsonl")) | {line for line in lines(out / "train.jsonl") if line in expected}
    assert plain == expected
    assert {i["label_id"]: i["error"] for i in result.manifest["invalid_labels"]} == refused
    assert result.manifest["counts"]["excluded"].get("invalid label", 0) == len(refused)
    train_extra = [line for line in lines(out / "train.jsonl") if line not in expected]
    assert augmented and len(train_extra) == result.manifest["counts"]["augmented_rows"] > 0


def test_junk_copies_are_train_only_and_skip_their_hunks(tool_export):
    result, out = tool_export
    assert not set(lines(out / "val.jsonl")) & set(lines(out / "train.jsonl"))
    finals = []
    for line in lines(out / "train.jsonl"):
        row = json.loads(line)
        call = row["messages"][-1]["tool_calls"][0]["function"]
        assert call["name"] == "finalize_commits"
        finals.append(json.loads(call["arguments"]))
    junk = [f for f in finals if f["skipped_hunks"]]
    assert len(junk) == result.manifest["counts"]["augmented_rows"]
    assert all(f["gitignore"] for f in junk)


def test_manifest_names_target_and_protocol(tool_export):
    manifest = json.loads((tool_export[1] / "manifest.json").read_text())
    assert manifest["target"] == "git-smart-commit" and manifest["options"]["target"] == "git-smart-commit"
    assert manifest["protocol"] == {"id": 7, "content_hash": CAPTURED.content_hash, "source": "captured",
                                    "captured": True, "tool_name": CAPTURED.tool_name, "tool_commit": "abc123",
                                    "note": ""}
    row = json.loads(lines(tool_export[1] / "val.jsonl")[0])
    assert row["messages"][0] == {"role": "system", "content": CAPTURED.system_prompt}
    assert row["tools"] == CAPTURED.tools


def test_json_files_manifest_has_no_protocol(records, tmp_path):
    result = E.export(records[:6], E.ExportOptions(val_fraction=0.2), str(tmp_path))
    assert result.manifest["target"] == "json-files" and result.manifest["protocol"] is None


def test_hunk_level_label_exports_in_both_targets(records, tmp_path):
    """A label with commits[].hunks (as the proxy stores them) and skipped hunks."""
    rec = next(r for r in records if len(example_hunk_view(r["example"])) >= 2)
    hunks = example_hunk_view(rec["example"])
    commit = {"subject": "feat(core): take all but the last hunk", "files": sorted({h.file for h in hunks[:-1]}),
              "hunks": [h.id for h in hunks[:-1]], "body": "", "issues": []}
    hunk_label = {**rec["label"], "commits": [commit], "skipped_hunks": [hunks[-1].id]}
    one = [{**rec, "label": hunk_label}]
    opts = dict(val_fraction=0, weights=ALL_ONCE)
    tool = E.export(one, E.ExportOptions(target=E.TOOL_TARGET, **opts), str(tmp_path / "tool"))
    assert lines(tmp_path / "tool" / "train.jsonl") == [record_line(tool_record(rec["example"], hunk_label))]
    final = json.loads(tool_record(rec["example"], hunk_label)["messages"][-1]["tool_calls"][0]["function"]["arguments"])
    assert final["skipped_hunks"] == [hunks[-1].id] and tool.manifest["protocol"]["source"] == "built-in"
    files = E.export(one, E.ExportOptions(**opts), str(tmp_path / "files"))
    assert not files.manifest["invalid_labels"]  # the extra key is ignored, not rejected
    answer = json.loads(json.loads(lines(tmp_path / "files" / "train.jsonl")[0])["messages"][-1]["content"])
    assert answer["commits"][0]["files"] == commit["files"] and "hunks" not in answer["commits"][0]


def test_a_refused_label_is_invalid_with_the_reason(records, tmp_path):
    rec = records[0]
    hunks = example_hunk_view(rec["example"])
    bad = {**rec["label"], "commits": [{"subject": "feat(core): a hunk that is not there",
                                        "hunks": ["no/such.py::1"] + [h.id for h in hunks], "body": "", "issues": []}]}
    result = E.export([{**rec, "label": bad}], tool_options(), str(tmp_path))
    [invalid] = result.manifest["invalid_labels"]
    assert "no/such.py::1" in invalid["error"] and result.manifest["counts"]["train_rows"] == 0


def test_rows_load_with_datasets(tool_export):
    from datasets import load_dataset

    result, out = tool_export
    ds = load_dataset("json", data_files={"train": str(out / "train.jsonl"), "validation": str(out / "val.jsonl")})
    assert ds["train"].num_rows == result.manifest["counts"]["train_rows"]
    assert ds["validation"].num_rows == result.manifest["counts"]["val_rows"] > 0
    row = ds["validation"][0]
    assert row["messages"][0]["role"] == "system" and row["tools"][0]["function"]["name"]


# --- the training side ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def coder_tokenizer(tool_export):
    from training.tiny import CODER_TEMPLATE, train_tokenizer

    tok = train_tokenizer([line[:4000] for line in lines(tool_export[1] / "train.jsonl")], vocab_size=900)
    tok.chat_template = CODER_TEMPLATE
    return tok


def expected_turn(message: dict) -> str:
    """An assistant tool-call turn as the Coder-like template prints it (see test_assistant_mask)."""
    text = message.get("content") or ""
    for call in message["tool_calls"]:
        fn = call["function"]
        text += f"\n<tool_call>\n<function={fn['name']}>\n"
        for key, value in json.loads(fn["arguments"]).items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            text += f"<parameter={key}>\n{shown}\n</parameter>\n"
        text += "</function>\n</tool_call>"
    return text + "<|im_end|>"


def test_mask_covers_exactly_the_assistant_tool_calls(tool_export, coder_tokenizer):
    from tests.test_assistant_mask import trained_runs
    from training.assistant_mask import tokenize_conversation

    out = tool_export[1]
    rows = [json.loads(line) for line in lines(out / "val.jsonl")]
    row = max(rows, key=lambda r: len(r["messages"]))  # the most turns (a read_file turn where there is one)
    assistants = [m for m in row["messages"] if m["role"] == "assistant"]
    assert len(assistants) >= 2
    enc = tokenize_conversation(coder_tokenizer, row["messages"], row["tools"])
    assert trained_runs(coder_tokenizer, enc) == [expected_turn(m) for m in assistants]
    untrained = coder_tokenizer.decode([t for t, b in zip(enc["input_ids"], enc["assistant_masks"]) if not b])
    assert row["messages"][0]["content"] in untrained and "<tool_response>" in untrained


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["trl", "unsloth"])
def test_both_backends_train_on_the_tool_target(tool_export, coder_tokenizer, tmp_path, backend):
    from training.tiny import build_tiny_model

    if backend == "unsloth" and unsloth_missing():
        pytest.skip(unsloth_missing())

    model = build_tiny_model(tmp_path / "model", tokenizer=coder_tokenizer)
    cfg = {"base_model": str(model), "data_dir": str(tool_export[1]), "output_dir": str(tmp_path / "out"),
           "backend": backend, "max_steps": 2, "batch_size": 2, "grad_accum": 1, "max_length": 4096,
           "optimizer": "adamw_torch", "lora_r": 4, "lora_alpha": 8, "eval_steps": 2}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "GSCTUNE_TRAIN_GPUS")}
    proc = subprocess.run([sys.executable, "-m", "training.entry", "--config", str(tmp_path / "cfg.json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    preview = (tmp_path / "out" / "mask_preview.txt").read_text()
    assert "<function=emit_commit>" in preview and "<tool_response>" not in preview


# --- the database side: protocol versions, the command, the pages --------------------------------

def captured_version() -> ProtocolVersion:
    return ProtocolVersion.objects.create(system_prompt="Captured: group the hunks.", tools=BUILTIN.tools,
                                          tool_commit="v1.2", user_turn="Available hunks:\n  a.py::1  (+1/-0)")


def test_protocol_version_adapter(db):
    version = captured_version()
    spec = version.to_spec()
    assert (spec.system_prompt, spec.tools, spec.source, spec.tool_commit) == (
        "Captured: group the hunks.", BUILTIN.tools, "captured", "v1.2")
    builtin = ProtocolVersion.objects.create(source=ProtocolVersion.Source.BUILTIN, system_prompt="x",
                                             tools=BUILTIN.tools).to_spec()
    assert builtin.source == "built-in" and "not what the tool sends" in builtin.note


def test_default_target_and_pinning(db, tmp_path):
    make_label(make_example(1))
    assert default_target() == "json-files"
    with pytest.raises(ValueError, match="no captured protocol version"):
        create_export(E.ExportOptions(target=E.TOOL_TARGET), folder=tmp_path / "a", enqueue=False)
    job = run_in_foreground(create_export(E.ExportOptions(target=E.TOOL_TARGET, protocol_version="builtin",
                                                          include_unreviewed=True, val_fraction=0, weights=ALL_ONCE),
                                          folder=tmp_path / "b", enqueue=False))
    assert job.state == JobState.SUCCEEDED and job.train_rows == 1
    assert job.summary["protocol"]["captured"] is False and "not what the tool sends" in job.summary["protocol"]["note"]
    version = captured_version()
    assert default_target() == "git-smart-commit"
    job = create_export(E.ExportOptions(target=E.TOOL_TARGET), folder=tmp_path / "c", enqueue=False)
    assert job.options["protocol_version"] == str(version.pk)  # pinned: a later capture does not change it


def test_command_exports_in_the_tool_target(db, tmp_path, capsys):
    example = make_example(1)
    make_label(example)
    version = captured_version()
    call_command("export_sft", "--out", str(tmp_path), "--target", "git-smart-commit",
                 "--protocol-version", str(version.pk), "--include-unreviewed", "--weight", "unreviewed=1",
                 "--val-fraction", "0")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["protocol"]["id"] == version.pk
    assert manifest["protocol"]["content_hash"] == version.to_spec().content_hash
    [line] = lines(tmp_path / "train.jsonl")
    assert json.loads(line)["messages"][0]["content"] == "Captured: group the hunks."
    job = SFTExport.objects.get(pk=int(capsys.readouterr().out.strip()))
    assert job.summary["target"] == "git-smart-commit"


def test_pages_show_target_and_protocol(db, client, staff_user, tmp_path):
    make_label(make_example(1))
    version = captured_version()
    client.force_login(staff_user)
    page = client.get(reverse("export-list")).content.decode()
    assert 'value="git-smart-commit" selected' in page and "add read_file turns" in page
    job = run_in_foreground(create_export(E.ExportOptions(target=E.TOOL_TARGET, include_unreviewed=True,
                                                          val_fraction=0, weights=ALL_ONCE),
                                          folder=tmp_path, enqueue=False))
    detail = client.get(job.get_absolute_url()).content.decode()
    assert 'id="export-target">Target' in detail and ">git-smart-commit</span>" in detail
    assert f'protocol #{version.pk}</a> <code>{version.content_hash[:12]}</code>' in detail and "captured" in detail
    assert version.to_spec().content_hash[:12] in detail
