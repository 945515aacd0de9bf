"""TeacherClient against the loopback server: retries, Retry-After, repair, truncation, reasoning."""

import asyncio
import time

import pytest

from gsctune.domain.llm_client import ClientConfig, TeacherClient, parse_retry_after
from gsctune.domain.prompts import build_messages

EXAMPLE = {"changed_files": ["src/a.py", "tests/test_a.py"],
           "diff": "diff --git a/src/a.py b/src/a.py\n--- a/src/a.py\n+++ b/src/a.py\n@@ -1 +1 @@\n-x\n+y\n"}
MESSAGES = build_messages(EXAMPLE)


def call(server, *, n=1, **cfg):
    config = ClientConfig(base_url=server.base_url, model="m", backoff_base=0.01, backoff_max=0.05, **cfg)

    async def go():
        async with TeacherClient(config) as client:
            return await asyncio.gather(*(client.complete(MESSAGES) for _ in range(n)))

    results = asyncio.run(go())
    return results[0] if n == 1 else results


def test_plain_answer_usage_and_request_shape(openai_server):
    result = call(openai_server, temperature=0.1, max_tokens=777, reasoning_effort="low")
    assert result.ok and result.error_kind == ""
    assert result.proposal.files == EXAMPLE["changed_files"]
    assert result.usage.as_dict() == {"prompt_tokens": openai_server.stats.prompt_tokens,
                                      "completion_tokens": openai_server.stats.completion_tokens,
                                      "total_tokens": openai_server.stats.prompt_tokens
                                      + openai_server.stats.completion_tokens}
    request = openai_server.log[0]["request"]
    assert request["messages"] == MESSAGES
    assert (request["model"], request["temperature"], request["max_tokens"], request["reasoning_effort"]) == \
        ("m", 0.1, 777, "low")
    assert result.attempts == 1 and result.latency_s > 0


@pytest.mark.parametrize("fault, kind", [("500", "server_error"), ("503", "server_error"),
                                         ("malformed_http", "bad_response"), ("429", "rate_limited")])
def test_transient_faults_are_retried(openai_server, fault, kind):
    openai_server.retry_after = None
    openai_server.enqueue(fault, fault)
    result = call(openai_server)
    assert result.ok
    assert result.attempts == 3
    assert openai_server.stats.requests == 3


def test_retry_after_is_honoured(openai_server):
    openai_server.retry_after = 0.6
    openai_server.enqueue("429")
    result = call(openai_server)
    assert result.ok
    gap = openai_server.log[1]["time"] - openai_server.log[0]["time"]
    assert gap >= 0.6, gap


def test_gives_up_after_max_attempts_with_reason(openai_server):
    openai_server.enqueue(*["500"] * 3)
    result = call(openai_server, max_attempts=3)
    assert not result.ok
    assert result.error_kind == "server_error"
    assert "HTTP 500" in result.error and "gave up after 3 attempts" in result.error


def test_hang_past_timeout_is_retried(openai_server):
    openai_server.hang_seconds = 5
    openai_server.enqueue("hang")
    started = time.monotonic()
    result = call(openai_server, timeout=0.5)
    assert result.ok and result.attempts == 2
    assert time.monotonic() - started < 3


def test_unparseable_answer_gets_one_repair_turn(openai_server):
    openai_server.enqueue("bad_schema")
    result = call(openai_server)
    assert result.ok and result.repairs == 1
    repair = openai_server.log[1]["messages"]
    assert repair[:2] == MESSAGES
    assert repair[2]["role"] == "assistant" and repair[3]["role"] == "user"
    assert "commits[0].subject 'update stuff'" in repair[3]["content"]
    assert len(result.raw_responses) == 2
    assert result.usage.prompt_tokens == openai_server.stats.prompt_tokens


def test_repair_is_bounded(openai_server):
    openai_server.enqueue("garbage", "garbage", "garbage")
    result = call(openai_server, max_repairs=1)
    assert not result.ok and result.error_kind == "unparseable"
    assert openai_server.stats.requests == 2
    assert "no JSON object" in result.error


def test_truncated_answer_is_reported_not_repaired(openai_server):
    openai_server.enqueue("truncated")
    result = call(openai_server, max_tokens=100)
    assert not result.ok and result.truncated and result.error_kind == "truncated"
    assert result.finish_reason == "length"
    assert result.usage.completion_tokens == 100
    assert openai_server.stats.requests == 1


def test_reasoning_only_answer_is_read(openai_server):
    openai_server.enqueue("reasoning_only")
    result = call(openai_server)
    assert result.ok and result.text.startswith("Let me look")


def test_client_error_is_not_retried(openai_server):
    bad = ClientConfig(base_url=openai_server.base_url.replace("/v1", "/nope"), model="m")

    async def go():
        async with TeacherClient(bad) as client:
            return await client.complete(MESSAGES)

    result = asyncio.run(go())
    assert result.error_kind == "http_error" and "HTTP 404" in result.error and result.attempts == 1


def test_pool_is_sized_to_concurrency_and_reused(openai_server):
    openai_server.latency = 0.05
    results = call(openai_server, n=40, concurrency=8)
    assert all(r.ok for r in results)
    assert openai_server.stats.max_in_flight == 8
    assert openai_server.stats.connections == 8


def test_parse_retry_after_forms():
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({}) is None
