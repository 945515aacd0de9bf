"""The teacher form: bounds in the browser and on the server, and the Test connection button."""
import json
import re
import socket
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from gsctune.domain.baseline import JSONHandler
from labeling.models import Teacher

pytestmark = pytest.mark.django_db
SECRET = "sk-test-connection-0815"
VALID = {"name": "openrouter", "base_url": "https://openrouter.ai/api/v1", "model": "qwen/qwen3-coder",
         "api_key_env": "OPENROUTER_API_KEY", "temperature": 0.2, "max_output_tokens": 4096, "request_timeout": 120,
         "max_concurrency": 32, "price_input_per_million": "0.2", "price_output_per_million": "0.8"}


class Recorder(ThreadingHTTPServer):
    """A loopback OpenAI-style server that records what it was sent (path, Authorization, body)."""

    daemon_threads = True
    verbose = False  # JSONHandler logs requests only for a verbose server

    def __init__(self, models=("m-small", "m-large"), models_status=200, chat_status=200, body_401=""):
        super().__init__(("127.0.0.1", 0), _RecorderHandler)
        self.models, self.models_status, self.chat_status, self.body_401 = models, models_status, chat_status, body_401
        self.requests: list[dict] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _RecorderHandler(JSONHandler):

    def _record(self, body: bytes = b"") -> None:
        self.server.requests.append({"method": self.command, "path": self.path, "body": body,
                                     "authorization": self.headers.get("Authorization", "")})

    def do_GET(self):  # noqa: N802
        self._record()
        if self.server.body_401:
            self._send(401, {"error": {"message": self.server.body_401}})
        elif self.server.models_status != 200:
            self._send(self.server.models_status, {"error": {"message": "no such route"}})
        else:
            self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in self.server.models]})

    def do_POST(self):  # noqa: N802
        self._record(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self._send(self.server.chat_status, {"choices": [{"message": {"role": "assistant", "content": "OK"},
                                                          "finish_reason": "length"}], "usage": {}})


@pytest.fixture
def recorder():
    servers = []

    def make(**kwargs) -> Recorder:
        servers.append(Recorder(**kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


def _test(client, **fields):
    return client.post(reverse("teacher-test"), fields, HTTP_HX_REQUEST="true")


# --------------------------------------------------------------------------- bounds

def test_server_refuses_bad_url_negative_prices_and_zero_concurrency_naming_each_field(staff_client):
    response = staff_client.post(reverse("teacher-new"), {
        **VALID, "base_url": "localhost:8765/v1", "price_input_per_million": "-1", "price_output_per_million": "-0.5",
        "max_concurrency": 0})
    page = response.content.decode()
    assert response.status_code == 200 and not Teacher.objects.exists()
    assert "Please fix these 4 fields" in page
    assert "Base URL: Enter an http:// or https:// URL such as https://openrouter.ai/api/v1" in page
    assert "localhost:8765/v1" in page
    assert "Max concurrency: Ensure this value is greater than or equal to 1." in page
    assert "Price in, per million tokens: Ensure this value is greater than or equal to 0." in page
    assert "Price out, per million tokens: Ensure this value is greater than or equal to 0." in page


@pytest.mark.parametrize("url, why", [
    ("ftp://example.org/v1", "http:// or https://"),
    ("https://", "http:// or https://"),
    ("http://host:port/v1", "http:// or https://"),
    ("http://127.0.0.1:8765/v1/chat/completions", "without /chat/completions, for example http://127.0.0.1:8765/v1"),
])
def test_base_url_must_be_an_http_api_root(staff_client, url, why):
    page = staff_client.post(reverse("teacher-new"), {**VALID, "base_url": url}).content.decode()
    assert why in page and not Teacher.objects.exists()


def test_valid_teacher_is_saved_with_its_url_trimmed(staff_client):
    response = staff_client.post(reverse("teacher-new"), {**VALID, "base_url": "http://gpu-box:30000/v1/"})
    assert response.status_code == 302
    assert Teacher.objects.get().base_url == "http://gpu-box:30000/v1"  # a LAN host name without a dot is fine


def test_browser_bounds_are_in_the_html(staff_client):
    page = staff_client.get(reverse("teacher-new")).content.decode()
    tag = {name: re.search(rf'<[^>]*name="{name}"[^>]*>', page).group(0)
           for name in ("base_url", "max_concurrency", "price_input_per_million", "price_output_per_million",
                        "temperature", "request_timeout")}
    assert 'type="url"' in tag["base_url"] and 'pattern="https?://.+"' in tag["base_url"]
    assert 'min="1"' in tag["max_concurrency"] and 'max="1024"' in tag["max_concurrency"]
    assert 'min="0"' in tag["price_input_per_million"] and 'min="0"' in tag["price_output_per_million"]
    assert 'min="0"' in tag["temperature"] and 'max="2"' in tag["temperature"]
    assert 'min="1"' in tag["request_timeout"]


def test_every_field_has_help_and_the_page_uses_the_shared_layout(staff_client):
    from labeling.runs.forms import TeacherForm

    form = TeacherForm()
    assert all(field.help_text for field in form), [f.name for f in form if not f.help_text]
    page = staff_client.get(reverse("teacher-new")).content.decode()
    assert page.count('class="form-section"') == 3 and 'class="stacked"' in page and "form-actions" in page


def test_example_urls_do_not_point_at_the_apps_own_port(staff_client, admin_client):
    """Port 8000 is where `make run` serves gsctune itself: a teacher there is the app, not a model."""
    page = staff_client.get(reverse("teacher-new")).content.decode()
    assert ":8000" not in page
    admin_page = admin_client.get(reverse("admin:labeling_teacher_add")).content.decode()
    assert "127.0.0.1:8765/v1 for the offline baseline" in admin_page and ":8000" not in admin_page
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    labeling = readme[readme.index("## Labeling with a teacher"):readme.index("## Review and the quality gate")]
    assert ":8000" not in labeling


# --------------------------------------------------------------------------- Test connection

def test_connection_lists_the_models_with_the_key_from_the_named_variable(staff_client, recorder, monkeypatch):
    server = recorder()
    monkeypatch.setenv("GSCTUNE_TEST_CONNECTION_KEY", SECRET)
    response = _test(staff_client, base_url=server.base_url, model="m-large", api_key_env="GSCTUNE_TEST_CONNECTION_KEY")
    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page  # an htmx partial
    assert "Connected" in page and "m-large is offered, one of 2 models" in page
    assert "<code>m-small</code>" in page and "<code>m-large</code>" in page
    assert [(r["method"], r["path"]) for r in server.requests] == [("GET", "/v1/models")]  # one tiny request
    assert server.requests[0]["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in page


def test_a_model_the_server_does_not_offer_is_a_warning_with_the_list(staff_client, recorder):
    server = recorder(models=("llama-3",))
    page = _test(staff_client, base_url=server.base_url, model="qwen", api_key_env="").content.decode()
    assert "Connected, check the model" in page
    assert "the server does not offer qwen; it offers 1 model" in page and "<code>llama-3</code>" in page


def test_without_a_model_list_a_one_token_chat_request_is_sent(staff_client, recorder):
    server = recorder(models_status=404)
    page = _test(staff_client, base_url=server.base_url, model="m-small", api_key_env="").content.decode()
    assert "m-small answered a 1-token chat request (the server lists no models)" in page
    chat = [r for r in server.requests if r["method"] == "POST"]
    assert len(chat) == 1 and chat[0]["path"] == "/v1/chat/completions"
    body = json.loads(chat[0]["body"])
    assert body["max_tokens"] == 1 and body["model"] == "m-small"


def test_errors_are_said_in_words(staff_client, recorder, monkeypatch):
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    page = _test(staff_client, base_url=f"http://127.0.0.1:{closed}/v1", model="m").content.decode()
    assert "Not connected" in page and f"cannot connect to http://127.0.0.1:{closed}/v1" in page
    assert "Connection refused" in page and "Traceback" not in page

    monkeypatch.setenv("GSCTUNE_TEST_CONNECTION_KEY", SECRET)
    server = recorder(body_401=f"Incorrect API key provided: {SECRET}")
    page = _test(staff_client, base_url=server.base_url, model="m",
                 api_key_env="GSCTUNE_TEST_CONNECTION_KEY").content.decode()
    assert "HTTP 401: the server refused the API key" in page
    assert SECRET not in page  # a server that echoes the key does not get it shown


def test_the_apps_own_pages_are_not_mistaken_for_an_api(staff_client, live_server):
    page = _test(staff_client, base_url=f"{live_server.url}/v1", model="m").content.decode()
    assert "Not connected" in page and "with a web page, not like an OpenAI-compatible API" in page


def test_an_unset_key_variable_is_named(staff_client, recorder, monkeypatch):
    monkeypatch.delenv("GSCTUNE_TEST_UNSET_KEY", raising=False)
    server = recorder()
    page = _test(staff_client, base_url=server.base_url, model="m-small",
                 api_key_env="GSCTUNE_TEST_UNSET_KEY").content.decode()
    assert "The variable GSCTUNE_TEST_UNSET_KEY is not set where this web server runs" in page
    assert server.requests[0]["authorization"] == "Bearer not-needed"


def test_an_invalid_url_is_not_sent_anywhere(staff_client):
    page = _test(staff_client, base_url="file:///etc/passwd", model="m").content.decode()
    assert "Not tested" in page and "Base URL: Enter an http:// or https:// URL" in page


def test_connection_test_is_staff_only_post_only_and_needs_csrf(reviewer_user, staff_user, recorder):
    server = recorder()
    reviewer = Client()
    reviewer.force_login(reviewer_user)
    assert reviewer.post(reverse("teacher-test"), {"base_url": server.base_url}).status_code == 403
    staff = Client(enforce_csrf_checks=True)
    staff.force_login(staff_user)
    assert staff.get(reverse("teacher-test")).status_code == 405
    assert staff.post(reverse("teacher-test"), {"base_url": server.base_url}).status_code == 403
    assert server.requests == []  # nothing was sent for any of them
    page = staff.get(reverse("teacher-new")).content.decode()
    assert f'hx-post="{reverse("teacher-test")}"' in page and 'name="csrfmiddlewaretoken"' in page
