"""Async client for any OpenAI-compatible chat-completions endpoint.

Wraps ``openai.AsyncOpenAI`` with the behaviour a long labeling run needs:
an HTTP pool sized to the concurrency (no reconnect churn), our own retry
loop (the SDK's is off) with exponential backoff and jitter that honours
Retry-After, answers taken from ``reasoning_content`` when ``content`` is
empty, truncation (finish_reason ``length``) reported as such, and a bounded
repair turn when the answer does not parse. A call never raises for a remote
failure: it returns a ``CallResult`` whose ``error_kind`` says what went wrong.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import email.utils
import logging
import random
import time
from dataclasses import dataclass, field

import aiohttp
import httpx2
import openai
import orjson
from openai._vendor.httpx_aiohttp.transport import map_aiohttp_exceptions

from gsctune.domain.prompts import build_repair_message
from gsctune.domain.proposal import Proposal, parse_proposal

# One INFO line per request from the HTTP library would drown a worker's log in a 10k-example run.
logging.getLogger("httpx2").setLevel(logging.WARNING)
logging.getLogger("httpx").setLevel(logging.WARNING)

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 600.0


@dataclass
class ClientConfig:
    base_url: str
    model: str
    api_key: str = ""
    temperature: float | None = 0.2
    max_tokens: int | None = 4096
    reasoning_effort: str = ""
    timeout: float = 120.0
    concurrency: int = 8
    max_attempts: int = 8  # HTTP attempts per turn
    max_repairs: int = 1  # extra turns when the answer does not parse
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    http_backend: str = "aiohttp"  # or "httpx": aiohttp's C parser costs a third of the CPU per request


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens}


@dataclass
class CallResult:
    text: str = ""
    proposal: Proposal | None = None
    error_kind: str = ""  # "" on success; see _classify and complete()
    error: str = ""
    finish_reason: str = ""
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    attempts: int = 0  # HTTP requests made, all turns
    repairs: int = 0
    raw_responses: list[str] = field(default_factory=list)  # every answer text, repair turns included
    model: str = ""

    @property
    def ok(self) -> bool:
        return self.proposal is not None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class RemoteError(Exception):
    def __init__(self, kind: str, message: str, attempts: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.attempts = attempts


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from retry-after-ms / Retry-After (seconds or HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _message_text(message: dict) -> str:
    """Answer text: ``content``, or the reasoning fields some servers use instead."""
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if content.strip():
        return content
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return content


class _LeanAioHttpClient(openai.DefaultAioHttpClient):
    """The SDK's aiohttp client with the per-request path cut to what a JSON POST needs.

    httpx2's generic machinery (URL re-parse and header merge in build_request; auth
    flow, redirect loop, hooks and a streamed-body wrapper in send) cost about as much
    CPU per request as the SDK and aiohttp together, which at 128 concurrent requests
    decides whether one core keeps up. The fast path sends through the same aiohttp
    session, timeouts and exception mapping as the SDK's transport; anything unusual
    (streaming, auth, hooks, proxies, cookies, a redirect) takes the full httpx2 path.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._urls: dict[str, httpx2.URL] = {}
        self._aio_timeouts: dict[tuple, aiohttp.ClientTimeout] = {}

    def build_request(self, method, url, *, content=None, data=None, files=None, json=None, params=None,
                      headers=None, cookies=None, timeout=httpx2.USE_CLIENT_DEFAULT, extensions=None):
        if (not isinstance(content, bytes) or not isinstance(url, str) or data is not None or files
                or json is not None or params or cookies or extensions or self.params or self.cookies):
            return super().build_request(
                method, url, content=content, data=data, files=files, json=json, params=params,
                headers=headers, cookies=cookies, timeout=timeout, extensions=extensions)
        merged_url = self._urls.get(url)
        if merged_url is None:
            merged_url = self._merge_url(url)
            if len(self._urls) < 64:
                self._urls[url] = merged_url
        timeout = self.timeout if timeout is httpx2.USE_CLIENT_DEFAULT else httpx2.Timeout(timeout)
        return httpx2.Request(method, merged_url, headers=self._merge_headers(headers), content=content,
                              extensions={"timeout": timeout.as_dict()})

    async def send(self, request, *, stream=False, auth=httpx2.USE_CLIENT_DEFAULT,
                   follow_redirects=httpx2.USE_CLIENT_DEFAULT):
        transport = self._transport
        if (stream or auth is not httpx2.USE_CLIENT_DEFAULT or self._auth is not None or self._mounts
                or self._event_hooks["request"] or self._event_hooks["response"] or self.is_closed
                or not isinstance(request.stream, httpx2.ByteStream) or getattr(transport, "proxy", True) is not None):
            return await super().send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        self._set_timeout(request)
        session = transport.client
        if not isinstance(session, aiohttp.ClientSession):
            session = transport.client = transport.get_client()
        timeouts = request.extensions["timeout"]
        key = (timeouts.get("connect"), timeouts.get("read"), timeouts.get("pool"))
        client_timeout = self._aio_timeouts.get(key)
        if client_timeout is None:
            client_timeout = self._aio_timeouts[key] = aiohttp.ClientTimeout(
                sock_connect=key[0], sock_read=key[1], connect=key[2])
        started = time.perf_counter()
        try:
            with map_aiohttp_exceptions():
                async with session.request(
                    request.method, str(request.url), headers=request.headers, data=request.content or None,
                    allow_redirects=False, auto_decompress=False, compress=False, timeout=client_timeout,
                    server_hostname=request.extensions.get("sni_hostname"),
                ) as raw:
                    body = await raw.read()
        except httpx2.RequestError as exc:
            exc.request = request
            raise
        extensions = {"http_version": b"HTTP/1.1"}
        if raw.reason:
            extensions["reason_phrase"] = raw.reason.encode()
        response = httpx2.Response(raw.status, headers=raw.raw_headers, stream=httpx2.ByteStream(body),
                                   request=request, extensions=extensions)
        response.default_encoding = self._default_encoding
        response.read()
        response.elapsed = datetime.timedelta(seconds=time.perf_counter() - started)
        if "set-cookie" in response.headers:
            self.cookies.extract_cookies(response)
        if response.has_redirect_location:
            return await super().send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        return response


class TeacherClient:
    """One per run (per event loop). ``async with TeacherClient(cfg) as c: await c.complete(msgs)``."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        size = max(1, config.concurrency)
        http_cls = _LeanAioHttpClient if config.http_backend == "aiohttp" else openai.DefaultAsyncHttpxClient
        self._http = http_cls(
            limits=httpx2.Limits(max_connections=size, max_keepalive_connections=size, keepalive_expiry=60),
            timeout=httpx2.Timeout(config.timeout, connect=min(10.0, config.timeout)),
        )
        self._client = openai.AsyncOpenAI(
            base_url=config.base_url, api_key=config.api_key or "not-needed",
            max_retries=0, http_client=self._http, timeout=config.timeout,
        )
        self._semaphore = asyncio.Semaphore(size)
        self.in_flight = 0  # requests on the wire now (read from other threads for the live page)
        self.requests = 0
        self.recent_errors: collections.deque = collections.deque(maxlen=20)  # (unix time, kind, message)
        params: dict = {"model": config.model}
        if config.temperature is not None:
            params["temperature"] = config.temperature
        if config.max_tokens:
            params["max_tokens"] = config.max_tokens
        if config.reasoning_effort:
            params["reasoning_effort"] = config.reasoning_effort
        self._params = params
        # Absolute, so the SDK does not re-merge it with base_url on every request.
        self._url = str(self._client._prepare_url("/chat/completions"))

    async def __aenter__(self) -> TeacherClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.close()

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After is a floor."""
        cfg = self.config
        delay = random.uniform(0.5, 1.0) * min(cfg.backoff_max, cfg.backoff_base * 2 ** (attempt - 1))
        if retry_after is not None:
            delay = min(MAX_RETRY_AFTER, retry_after) + random.uniform(0, 0.1 * max(retry_after, 0.1))
        return delay

    async def _request(self, messages: list[dict]):
        """One turn: POST with retries. Returns (response JSON, attempts) or raises RemoteError."""
        attempt = 0
        body = orjson.dumps({**self._params, "messages": messages})
        while True:
            attempt += 1
            retry_after = None
            try:
                async with self._semaphore:
                    self.in_flight += 1
                    self.requests += 1
                    try:
                        # client.post with a raw response skips the SDK's TypedDict transform of
                        # the messages (~4 CPU-ms for a large diff) and its pydantic model of the
                        # answer (~0.5 ms); status errors are still raised by the SDK. The body is
                        # encoded once with orjson (a third of the json module's time).
                        response = await self._client.post(
                            self._url, cast_to=httpx2.Response, content=body)
                    finally:
                        self.in_flight -= 1
                data = orjson.loads(response.content)
                if not isinstance(data, dict):
                    raise ValueError("the response body is not a JSON object")
                return data, attempt
            except openai.APITimeoutError:
                kind, message = "timeout", f"no answer within {self.config.timeout:g} s"
            except openai.APIConnectionError as exc:
                kind, message = "connection", f"connection error: {exc.__cause__ or exc}"
            except openai.APIStatusError as exc:
                status = exc.status_code
                kind = "rate_limited" if status == 429 else ("server_error" if status >= 500 else "http_error")
                message = f"HTTP {status}: {_short(exc.message)}"
                if status not in RETRYABLE_STATUS:
                    self.recent_errors.append((time.time(), kind, message))
                    raise RemoteError(kind, message, attempt) from None
                retry_after = parse_retry_after(exc.response.headers)
            except ValueError as exc:  # includes orjson.JSONDecodeError
                kind, message = "bad_response", f"unreadable response body: {_short(str(exc))}"
            self.recent_errors.append((time.time(), kind, message))
            if attempt >= self.config.max_attempts:
                raise RemoteError(kind, f"{message} (gave up after {attempt} attempts)", attempt)
            await asyncio.sleep(self.backoff(attempt, retry_after))

    async def complete(self, messages: list[dict], parse=parse_proposal) -> CallResult:
        """Send messages; repair (bounded) when the answer does not parse.

        ``parse(text)`` returns a result with ``ok``, ``proposal`` and ``error`` (the repair
        turn's text): the file-level parser by default, a hunk-level one for hunk prompts.
        """
        started = time.perf_counter()
        result = CallResult(model=self.config.model)
        convo = list(messages)
        for turn in range(self.config.max_repairs + 1):
            try:
                data, attempts = await self._request(convo)
            except RemoteError as exc:
                result.attempts += exc.attempts
                result.error_kind, result.error = exc.kind, str(exc)
                break
            result.attempts += attempts
            usage = data.get("usage") or {}
            result.usage.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            result.usage.completion_tokens += int(usage.get("completion_tokens") or 0)
            result.model = data.get("model") or result.model
            choices = data.get("choices")
            if not choices or not isinstance(choices[0], dict):
                result.error_kind, result.error = "empty", "the response has no choices"
                continue
            choice = choices[0]
            text = _message_text(choice.get("message") or {})
            result.text = text
            result.raw_responses.append(text)
            result.finish_reason = choice.get("finish_reason") or ""
            parsed = parse(text)
            if parsed.ok:
                result.proposal = parsed.proposal
                result.error_kind = result.error = ""
                break
            if result.finish_reason == "length":
                result.error_kind = "truncated"
                result.error = f"answer cut off at the output limit (finish_reason length): {parsed.error}"
                break  # repairing with the same limit would be cut off again
            result.error_kind = "unparseable" if text.strip() else "empty"
            result.error = parsed.error if text.strip() else "the answer is empty"
            self.recent_errors.append((time.time(), result.error_kind, result.error))
            if turn < self.config.max_repairs:
                result.repairs += 1
                convo = convo + [{"role": "assistant", "content": text}, build_repair_message(result.error)]
        result.latency_s = time.perf_counter() - started
        return result


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- connection test

@dataclass
class ConnectionCheck:
    """What one small request to an endpoint found, in words for the teacher page."""

    level: str  # "ok", "warning" (reached, but the model is not offered) or "error"
    message: str
    models: list[str] = field(default_factory=list)
    latency_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.level != "error"


def check_connection(base_url: str, model: str = "", api_key: str = "", timeout: float = 10.0) -> ConnectionCheck:
    """Send one tiny request: GET /models, or a 1-token chat completion where the server lists none.

    Never raises for a remote failure, and never repeats the key in what it reports.
    """
    started = time.perf_counter()
    client = openai.OpenAI(base_url=base_url, api_key=api_key or "not-needed", max_retries=0, timeout=timeout)

    def done(level: str, message: str, models: list[str] | None = None) -> ConnectionCheck:
        if api_key:
            message = message.replace(api_key, "***")
        return ConnectionCheck(level, message, models or [], time.perf_counter() - started)

    try:
        try:
            response = client.get("/models", cast_to=httpx2.Response)
        except openai.APIStatusError as exc:
            if exc.status_code not in (404, 405) or _is_web_page(exc.response):
                raise
            if not model:
                return done("error", f"{base_url}/models answers HTTP {exc.status_code} (no model list); "
                                     "enter the model name to test it with a 1-token chat request")
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Say OK."}],
                                           max_tokens=1)
            return done("ok", f"{model} answered a 1-token chat request (the server lists no models)")
    except openai.APITimeoutError:
        return done("error", f"no answer from {base_url} within {timeout:g} s")
    except openai.APIConnectionError as exc:
        return done("error", f"cannot connect to {base_url}: {exc.__cause__ or exc}")
    except openai.AuthenticationError as exc:
        return done("error", f"HTTP {exc.status_code}: the server refused the API key ({_short(exc.message)})")
    except openai.APIStatusError as exc:
        if _is_web_page(exc.response):
            return done("error", f"{base_url} answered HTTP {exc.status_code} with a web page, not like an "
                                 "OpenAI-compatible API: is this the API root (usually ending in /v1)?")
        where = " (is the base URL right?)" if exc.status_code == 404 else ""
        return done("error", f"HTTP {exc.status_code} from {exc.request.url}{where}: {_short(exc.message)}")
    except openai.OpenAIError as exc:
        return done("error", f"the chat request failed: {_short(str(exc))}")
    finally:
        client.close()
    models = _model_ids(response)
    if models is None:
        kind = response.headers.get("content-type", "").split(";")[0] or "no content type"
        return done("error", f"{base_url}/models answered with {kind}, not an OpenAI model list: is this "
                             "the API root of an OpenAI-compatible server (usually ending in /v1)?")
    count = f"{len(models)} model{'s' if len(models) != 1 else ''}"
    if not model:
        return done("ok", f"the server offers {count}", models)
    if model in models:
        return done("ok", f"{model} is offered" + (f", one of {count}" if len(models) > 1 else ""), models)
    return done("warning", f"the server does not offer {model}; it offers {count}", models)


def _is_web_page(response) -> bool:
    return response.headers.get("content-type", "").startswith("text/html")


def _model_ids(response) -> list[str] | None:
    """The model names of a /models answer ({"data": [{"id": ...}]}); None if it is not one."""
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        return None
    return sorted({str(m["id"]) for m in data["data"] if isinstance(m, dict) and m.get("id")})
