"""The rule-based baseline and its OpenAI-compatible server."""

import asyncio
import json

import pytest

from gsctune.domain.baseline import BASELINE_MODEL, BaselineServer, label
from gsctune.domain.llm_client import ClientConfig, TeacherClient
from gsctune.domain.noise import apply_noise, is_ignored, make_noise
from gsctune.domain.prompts import build_messages

from .sample_data import SHARED_SAMPLE, sample_path

FILES = ["src/app/core.py", "tests/test_core.py", "package.json", "package-lock.json", "README.md",
         ".github/workflows/ci.yml", ".DS_Store"]


def _diff(files):
    return "".join(f"diff --git a/{f} b/{f}\nnew file mode 100644\nindex 0000000..1234567\n"
                   f"Binary files /dev/null and b/{f} differ\n" if f == ".DS_Store" else
                   f"diff --git a/{f} b/{f}\nindex 1..2 100644\n--- a/{f}\n+++ b/{f}\n@@ -1 +1 @@\n-a\n+b\n"
                   for f in files)


def test_grouping_rules_and_junk():
    proposal = label(FILES, _diff(FILES))
    by_file = {f: c for c in proposal.commits for f in c.files}
    assert sorted(by_file) == sorted(f for f in FILES if f != ".DS_Store")
    assert len(proposal.files) == len(set(proposal.files))  # whole-file rule
    assert by_file["src/app/core.py"] is by_file["tests/test_core.py"]  # tests with their code
    assert by_file["package.json"] is by_file["package-lock.json"]  # lockfile with manifest
    assert by_file["package.json"].type == "build"
    assert by_file["README.md"].type == "docs" and by_file[".github/workflows/ci.yml"].type == "ci"
    assert proposal.gitignore == [".DS_Store"]
    assert all(len(c.subject) <= 72 for c in proposal.commits)


def test_type_from_diff_and_issues():
    diff = ("diff --git a/lib/x.py b/lib/x.py\nnew file mode 100644\n--- /dev/null\n+++ b/lib/x.py\n@@ -0,0 +1,2 @@\n"
            "+def f():\n+    print('here')  # TODO: remove\n")
    proposal = label(["lib/x.py"], diff)
    commit = proposal.commits[0]
    assert commit.subject == "feat(lib): add x.py" or commit.type == "feat"
    assert {i.path for i in commit.issues} == {"lib/x.py"}


@pytest.mark.parametrize("sample", ["generated", "shared"])
def test_every_sample_example_gets_a_valid_whole_file_proposal(sample):
    if sample == "shared" and not SHARED_SAMPLE.exists():
        pytest.skip(f"the optional shared sample is not at {SHARED_SAMPLE} (the generated one is tested)")
    data = sample_path() if sample == "generated" else SHARED_SAMPLE
    for line in data.open(encoding="utf-8"):
        ex = json.loads(line)
        key = f"{ex['repo_url']}@{ex['base_commit']}..{ex['head_commit']}"
        noise = make_noise(key, ex["changed_files"], 0, 0.3, ex["existing_gitignore"])
        files, diff = apply_noise(ex["changed_files"], ex["diff"], noise)
        proposal = label(files, diff)
        assert len(proposal.files) == len(set(proposal.files)), key
        ignored = {f for f in files if is_ignored(f, proposal.gitignore)}
        assert set(proposal.files) | ignored == set(files), key  # every file committed or ignored
        assert not set(noise.files) & set(proposal.files), key  # junk never committed
        assert set(proposal.files) >= set(ex["changed_files"]) - ignored


def test_server_speaks_openai_protocol():
    server = BaselineServer()
    server.start_background()
    try:
        example = {"changed_files": FILES, "diff": _diff(FILES)}

        async def go():
            async with TeacherClient(ClientConfig(base_url=server.base_url, model=BASELINE_MODEL)) as client:
                return await client.complete(build_messages(example, max_diff_chars=100_000))

        result = asyncio.run(go())
        assert result.ok, result.error
        assert result.model == BASELINE_MODEL
        assert result.proposal.to_label_dict() == label(FILES, _diff(FILES)).to_label_dict()
        assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    finally:
        server.shutdown()
        server.server_close()


def test_server_recovers_files_from_a_truncated_user_turn():
    files = ["a.py", "b.py"]
    example = {"changed_files": files, "diff": _diff(files) * 50}
    messages = build_messages(example, max_diff_chars=300)
    assert "[diff truncated:" in messages[1]["content"]
    from gsctune.domain.baseline import answer_chat

    content = answer_chat({"messages": messages})["choices"][0]["message"]["content"]
    assert sorted(json.loads(content)["commits"][0]["files"] + json.loads(content)["commits"][-1]["files"]) \
        >= sorted(files)
