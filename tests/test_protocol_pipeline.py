"""From capture to Ollama (issue 13, "Done when"): the README's command sequence, each step inspected.

capture_protocol (driven by a client shaped like git-smart-commit) -> hunk_prompt -> label with the
serve_baseline server -> one review verdict -> export_sft --target git-smart-commit -> tiny_model (Qwen3's
tool-calling template) -> train -> merge_adapter -> llama-server on the merged GGUF, with the command the merge
prints; every step through call_command, on the suite's generated harvest.
"""
from __future__ import annotations

import io
import json
import re
import shlex
import threading
from pathlib import Path

import pytest
from django.core.management import call_command

from gsctune.domain.baseline import BASELINE_MODEL
from labeling.models import Label, PromptVersion, ProtocolVersion, SFTExport
from labeling.review.services import record_verdict
from tests.fixtures_training import llama_cpp_dir
from tests.llama_server import NOT_BUILT, LlamaServer, server_binary
from tests.test_capture_tool_shape import ToolShapedClient
from training.models import AdapterMerge, TrainingRun

N_LABELED = 4


class DriveToolOnReady(io.StringIO):
    """The command's stdout: once it prints the tool's command line, run the tool-shaped client."""

    def __init__(self):
        super().__init__()
        self.thread: threading.Thread | None = None
        self.failures: list[BaseException] = []

    def write(self, text):
        found = re.search(r"--api-base (\S+)", text)
        if found and self.thread is None:
            self.thread = threading.Thread(target=self._drive, args=(found.group(1),), daemon=True)
            self.thread.start()
        return super().write(text)

    def _drive(self, api_base):
        try:
            ToolShapedClient(api_base, n_hunks=4).run()
        except BaseException as exc:  # reported by the test
            self.failures.append(exc)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_from_capture_to_ollama(transactional_db, harvest_sample, baseline_server, django_user_model, tmp_path,
                                settings, request):
    # 1. capture the protocol from the tool
    out = DriveToolOnReady()
    call_command("capture_protocol", port=0, timeout=20, grace=0.2, tool_commit="test-client", stdout=out)
    out.thread.join(10)
    assert not out.failures, out.failures
    protocol = ProtocolVersion.objects.get(source=ProtocolVersion.Source.CAPTURED)
    assert "Stored new" in out.getvalue() and protocol.content_hash and protocol.tool_commit == "test-client"
    assert {t["function"]["name"] for t in protocol.tools} == {"emit_commit", "finalize_commits"}

    # 2. a hunk-level prompt from the captured protocol
    said = io.StringIO()
    call_command("hunk_prompt", stdout=said)
    prompt = PromptVersion.objects.get(granularity=PromptVersion.Granularity.HUNKS)
    assert f"hunk-level prompt version {prompt.pk} from protocol version {protocol.pk}" in said.getvalue()
    assert prompt.system_prompt.startswith(protocol.system_prompt)

    # 3. label at hunk level with the baseline server
    call_command("import_examples", str(harvest_sample), stdout=io.StringIO(), stderr=io.StringIO())
    call_command("label", base_url=baseline_server.base_url, model=BASELINE_MODEL, prompt_version=prompt.pk,
                 limit=N_LABELED, noise_prob=0.0, stdout=io.StringIO(), stderr=io.StringIO())
    labels = list(Label.objects.filter(prompt_version=prompt).select_related("example"))
    assert len(labels) == N_LABELED
    for label in labels:
        assert label.granularity == "hunks"
        commits = label.commits
        assert commits and all(c["hunks"] for c in commits)
        assert all(re.fullmatch(r".+::\d+", h) for c in commits for h in c["hunks"])

    # 4. review: accept one label
    reviewer = django_user_model.objects.create_user("reviewer", password="pw-reviewer-123")
    accepted = labels[0]
    review = record_verdict(reviewer, accepted.pk, "accept")
    assert review.verdict == "accept"

    # 5. export in the tool's format
    folder = tmp_path / "export"
    said = io.StringIO()
    call_command("export_sft", out=str(folder), target="git-smart-commit", val_fraction=0.0, stdout=said,
                 stderr=io.StringIO())
    export = SFTExport.objects.get(pk=int(said.getvalue().split()[-1]))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["target"] == "git-smart-commit"
    assert manifest["protocol"]["id"] == protocol.pk and manifest["protocol"]["captured"]
    assert manifest["protocol"]["version_hash"] == protocol.content_hash  # the hash the protocol page shows
    assert manifest["protocol"]["content_hash"] == protocol.to_spec().content_hash
    rows = lines(folder / "train.jsonl")
    assert len(rows) == 1  # only the accepted label
    row = rows[0]
    assert row["tools"] == protocol.tools
    assert row["messages"][0] == {"role": "system", "content": protocol.system_prompt}
    calls = [m["tool_calls"][0]["function"]["name"] for m in row["messages"] if m.get("tool_calls")]
    assert calls[-1] == "finalize_commits"
    assert calls.count("emit_commit") == len(accepted.commits)

    # 6. train 20 steps on the tiny model
    base = tmp_path / "tiny"
    call_command("tiny_model", out=str(base), corpus=str(folder / "train.jsonl"), vocab_size=400,
                 chat_template="qwen3", stdout=io.StringIO())
    call_command("train", export=export.pk, base_model=str(base), max_steps=20, batch_size=1, grad_accum=1,
                 max_length=4096, eval_steps=0, stdout=io.StringIO(), stderr=io.StringIO())
    run = TrainingRun.objects.get()
    assert run.has_adapter
    assert Path(run.adapter_dir, "adapter_config.json").exists()
    steps = run.metrics.filter(kind="train", loss__isnull=False)
    assert steps.exists() and max(steps.values_list("step", flat=True)) == 20
    written = lines(Path(run.output_dir) / "metrics.jsonl")
    assert written and all(r["loss"] > 0 for r in written if r.get("loss") is not None)

    # 7. merge, with the Modelfile for Ollama
    llama = llama_cpp_dir()
    settings.LLAMA_CPP_DIR = str(llama) if llama else "/nonexistent"
    said = io.StringIO()
    call_command("merge_adapter", run.pk, quant="Q8_0", stdout=said, stderr=io.StringIO())
    job = AdapterMerge.objects.get()
    assert Path(job.result["merged_dir"], "config.json").exists()
    if llama is None:
        pytest.skip("llama.cpp's converter is absent (scripts/get_llama_cpp.sh): no GGUF, no Modelfile")
    modelfile = Path(job.result["modelfile"]).read_text()
    assert "FROM ./model-Q8_0.gguf" in modelfile
    assert modelfile.count(protocol.system_prompt) == 1

    # 8. serve: the llama-server command the merge printed, on the merged GGUF, asked with the captured tools
    command = job.result["llama_server"]
    assert f"or serve the GGUF with llama.cpp: {command} " in said.getvalue()
    argv = shlex.split(command)
    assert argv[1:4] == ["--jinja", "-m", str(Path(job.result["gguf"]).resolve())]
    if server_binary() is None:
        pytest.skip(NOT_BUILT)
    server = LlamaServer(argv, tmp_path / "llama-server.log")
    request.addfinalizer(server.stop)
    server.start().wait_ready()
    status, answer = server.post("/v1/chat/completions", {
        "model": argv[argv.index("--alias") + 1], "messages": row["messages"][:2], "tools": protocol.tools,
        "max_tokens": 16, "temperature": 0})
    assert status == 200, answer
    choice = answer["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] in ("stop", "length", "tool_calls")
    assert isinstance(choice["message"].get("content"), str) or choice["message"].get("tool_calls")
    assert answer["usage"]["prompt_tokens"] > 0 and answer["usage"]["completion_tokens"] <= 16


@pytest.mark.django_db
def test_hunk_prompt_needs_a_captured_protocol():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no captured protocol version: run `manage.py capture_protocol` first"):
        call_command("hunk_prompt")
    with pytest.raises(CommandError, match="no protocol version 99"):
        call_command("hunk_prompt", protocol=99)
