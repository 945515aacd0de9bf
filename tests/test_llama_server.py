"""The second way to serve the student: llama-server --jinja on the merged GGUF (issue 13, part 6).

The model is ``manage.py tiny_model --chat-template qwen3`` (Qwen3's own tool-calling template), converted
by the merge's GGUF step; the server runs the command the merge prints, on a free loopback port. A random
model's text need not be a valid call: the tests check that the server takes the tools, renders them with
the model's own template as training did, and answers in the OpenAI shape git-smart-commit reads.
"""

from __future__ import annotations

import io
import json
import shlex

import pytest
from django.core.management import call_command

from gsctune.domain.protocol import BUILTIN
from tests.fixtures_training import llama_cpp_dir
from tests.llama_server import NOT_BUILT, LlamaServer, server_binary, with_option
from training import merge

needs_server = pytest.mark.skipif(server_binary() is None, reason=NOT_BUILT)

MESSAGES = [
    {"role": "system", "content": BUILTIN.system_prompt},
    {"role": "user", "content": "Available hunks:\n  cli.py::1  (+2/-1)\n\nDiff content:\n--- cli.py::1 ---\n"
                                "diff --git a/cli.py b/cli.py\n@@ -1,2 +1,3 @@\n-exit(0)\n+import sys\n+sys.exit(1)\n"},
]


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    """The tiny model folder (Qwen3 chat template) and its Q8_0 GGUF, written by the merge's converter step."""
    root = tmp_path_factory.mktemp("llama-server")
    # The tokenizer learns the tool specs too: the prompt then fits the tiny model's 4,096-token context.
    corpus = root / "corpus.jsonl"
    corpus.write_text(json.dumps({"messages": MESSAGES + [{"role": "user", "content": json.dumps(BUILTIN.tools)}]}))
    call_command("tiny_model", out=str(root / "tiny"), corpus=str(corpus), vocab_size=1000, chat_template="qwen3",
                 stdout=io.StringIO())
    gguf = merge.convert_to_gguf(root / "tiny", root / "model-Q8_0.gguf", llama_cpp_dir(), outtype="q8_0")
    return root / "tiny", gguf


@pytest.fixture(scope="module")
def server(tiny_gguf, request):
    _, gguf = tiny_gguf
    srv = LlamaServer(merge.llama_server_command(gguf, llama_cpp_dir(), ctx=4096), gguf.parent / "server.log")
    request.addfinalizer(srv.stop)  # before waiting: a server that never gets ready is stopped too
    return srv.start().wait_ready()


def chat(server, **extra) -> tuple[int, dict]:
    return server.post("/v1/chat/completions", {"model": merge.SERVE_ALIAS, "messages": MESSAGES, "max_tokens": 16,
                                                "temperature": 0, **extra})


@pytest.mark.slow
@needs_server
def test_server_renders_the_tools_with_the_models_own_template(server, tiny_gguf):
    from transformers import AutoTokenizer

    model_dir, _ = tiny_gguf
    status, body = server.post("/apply-template", {"messages": MESSAGES, "tools": BUILTIN.tools})
    assert status == 200, body
    expected = AutoTokenizer.from_pretrained(model_dir).apply_chat_template(
        MESSAGES, tools=BUILTIN.tools, tokenize=False, add_generation_prompt=True)
    assert '"name": "emit_commit"' in expected and BUILTIN.system_prompt in expected
    # The prompt the server builds is the one the student trained on, tool JSON and all.
    assert body["prompt"] == expected


@pytest.mark.slow
@needs_server
def test_chat_completion_with_tools_answers_in_the_openai_shape(server):
    status, body = chat(server, tools=BUILTIN.tools)
    assert status == 200, body  # the tools were accepted: no template or parser error
    assert body["object"] == "chat.completion" and body["model"] == merge.SERVE_ALIAS
    choice = body["choices"][0]
    message = choice["message"]
    assert message["role"] == "assistant"
    assert isinstance(message.get("content"), str) or message.get("tool_calls")
    for call in message.get("tool_calls") or []:
        assert call["type"] == "function" and isinstance(call["function"]["arguments"], str)
    assert choice["finish_reason"] in ("stop", "length", "tool_calls")
    usage = body["usage"]
    assert usage["completion_tokens"] <= 16
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # The tool specs are in the prompt: the same request without them is shorter.
    status, bare = chat(server)
    assert status == 200, bare
    assert usage["prompt_tokens"] > bare["usage"]["prompt_tokens"] + 100


@pytest.mark.slow
@needs_server
def test_tokenize_answers_as_git_smart_commit_counts_tokens(server):
    text = MESSAGES[1]["content"]
    status, body = server.post("/tokenize", {"content": text})
    assert status == 200 and set(body) == {"tokens"}
    tokens = body["tokens"]
    assert tokens and all(isinstance(t, int) for t in tokens)
    status, back = server.post("/detokenize", {"tokens": tokens})
    assert status == 200 and back["content"] == text


def test_the_printed_command_names_the_built_server_and_the_gguf(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    (tmp_path / "convert_hf_to_gguf.py").write_text("")
    argv = merge.llama_server_command(tmp_path / "m.gguf", tmp_path)
    assert argv[:4] == ["llama-server", "--jinja", "-m", str(tmp_path / "m.gguf")]  # not built: the plain name
    binary = tmp_path / "build" / "bin" / "llama-server"
    binary.parent.mkdir(parents=True)
    binary.write_text("")
    argv = merge.llama_server_command(tmp_path / "m.gguf", tmp_path, alias="my-student", port=9000)
    assert argv[0] == str(binary)
    assert with_option(argv, "--port", "9001")[argv.index("--port") + 1] == "9001"
    text = shlex.join(argv)
    assert "--alias my-student" in text and "--port 9000" in text and f"--ctx-size {merge.SERVE_CTX}" in text
