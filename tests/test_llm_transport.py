"""The lean aiohttp transport relies on private internals of the pinned openai SDK and httpx2.

These tests fail loudly, naming what moved, when an upgrade of either changes what
``_LeanAioHttpClient`` overrides or reads; then check the fast path against the new SDK.
"""

import asyncio
import inspect
import re
from pathlib import Path

import aiohttp
import httpx2
import openai
import pytest
from openai._vendor.httpx_aiohttp.transport import AiohttpTransport, map_aiohttp_exceptions

from gsctune.domain.llm_client import ClientConfig, TeacherClient, _LeanAioHttpClient
from gsctune.domain.prompts import build_messages

REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements.txt"


def pinned(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", REQUIREMENTS.read_text(), re.MULTILINE)
    assert match, f"{package} is not pinned in requirements.txt"
    return match[1]


def test_the_installed_sdk_is_the_pinned_one():
    assert openai.__version__ == pinned("openai"), "openai changed: re-check _LeanAioHttpClient, then re-pin"
    assert httpx2.__version__ == pinned("httpx2"), "httpx2 changed: re-check _LeanAioHttpClient, then re-pin"


def test_the_overridden_methods_keep_their_signatures():
    assert issubclass(openai.DefaultAioHttpClient, httpx2.AsyncClient)
    for name in ("build_request", "send"):
        ours = list(inspect.signature(getattr(_LeanAioHttpClient, name)).parameters)
        theirs = list(inspect.signature(getattr(httpx2.AsyncClient, name)).parameters)
        assert ours == theirs, f"httpx2.AsyncClient.{name} now takes {theirs}"


def test_the_private_internals_read_are_still_there():
    client = openai.DefaultAioHttpClient()
    try:
        for name in ("_merge_url", "_merge_headers", "_set_timeout", "_transport", "_auth", "_mounts",
                     "_event_hooks", "_default_encoding", "params", "cookies", "timeout", "is_closed"):
            assert hasattr(client, name), f"the SDK's http client lost {name}"
        assert set(client._event_hooks) >= {"request", "response"}
        transport = client._transport
        assert isinstance(transport, AiohttpTransport)
        for name in ("client", "get_client", "proxy"):
            assert hasattr(transport, name), f"AiohttpTransport lost {name}"
        assert hasattr(openai.AsyncOpenAI, "_prepare_url")
        assert callable(map_aiohttp_exceptions)
        with pytest.raises(httpx2.RequestError):
            with map_aiohttp_exceptions():
                raise aiohttp.ClientConnectionError("refused")
    finally:
        asyncio.run(client.aclose())


def test_requests_take_the_fast_path(openai_server):
    config = ClientConfig(base_url=openai_server.base_url, model="m")
    messages = build_messages({"changed_files": ["a.py"],
                               "diff": "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n"})

    async def go():
        async with TeacherClient(config) as client:
            result = await client.complete(messages)
            return result, dict(client._http._aio_timeouts), client._http._transport.client

    result, timeouts, session = asyncio.run(go())
    assert result.ok
    # Only the fast path builds aiohttp timeouts and opens the transport's session itself.
    assert timeouts, "the request took httpx2's full path: the fast path's conditions no longer hold"
    assert isinstance(session, aiohttp.ClientSession)
