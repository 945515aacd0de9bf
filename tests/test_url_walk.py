"""Every URL pattern of the URLconf, with ids and labels that do not exist, as three kinds of visitor.

No request may end in a server error; an anonymous visitor is sent to the login page; a signed-in
user without staff rights who reaches a staff-only view gets the app's 403 page saying why.
"""
import re

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse

from gsctune.permissions import staff_required

# Values for path parameters that name nothing: by parameter name first, then by converter.
BAD_BY_NAME = {
    "label": ["nope", "auth.user", "labeling.example", "labeling.nope", "a.b.c"],
    "fmt": ["xml"],
    "name": ["nope.jsonl", "..", "manifest.json"],
}
BAD_BY_CONVERTER = {"int": ["0", "987654321", "99999999999999999999"], "str": ["nope"], "path": ["nope", "../../gsctune/settings.py"],
                    "slug": ["nope"], "uuid": ["00000000-0000-0000-0000-000000000000"]}
# The two regex patterns of the admin, which have no converters to fill in.
REGEX_SAMPLES = {
    r"admin/^(?P<app_label>auth|labeling|training|evaluation)/$": ["/admin/labeling/", "/admin/training/"],
    r"admin/(?P<url>.*)$": ["/admin/nope/", "/admin/labeling/nope/987654321/change/"],
}
# Views that must be staff-only (the walk also finds any other view marked with staff_required).
STAFF_VIEWS = {"job-cancel", "eval-run-new", "cmp-set-new", "training-launch", "training-merge",
               "labeling-run-new", "labeling-run-resume", "teacher-new", "teacher-edit", "import-list",
               "export-list"}
PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")


def _patterns(resolver=None, prefix=""):
    """(route text, URLPattern) for every leaf pattern, with the routes of its includes joined."""
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern, route)
        else:
            yield route, pattern


def _urls(route: str) -> list[str]:
    """Concrete URLs for a route: each parameter in turn takes each of its bad values."""
    if route in REGEX_SAMPLES:
        return REGEX_SAMPLES[route]
    assert "(?P" not in route and "^" not in route, f"a new regex route needs samples: {route}"
    params = [(m["name"], m["conv"] or "str") for m in PARAM.finditer(route)]
    choices = {name: BAD_BY_NAME.get(name) or BAD_BY_CONVERTER[conv] for name, conv in params}

    def fill(values: dict) -> str:
        return "/" + PARAM.sub(lambda m: values[m["name"]], route)

    first = {name: values[0] for name, values in choices.items()}
    urls = [fill(first)]
    for name, values in choices.items():
        urls += [fill({**first, name: value}) for value in values[1:]]
    return urls


def _walk():
    for route, pattern in _patterns():
        for url in _urls(route):
            yield url, pattern


@pytest.fixture
def visitors(django_user_model):
    plain = django_user_model.objects.create_user("plain", password="pw-plain-123")
    staff = django_user_model.objects.create_user("boss", password="pw-boss-1234", is_staff=True)
    clients = {"anonymous": Client(raise_request_exception=False)}
    for name, user in (("plain", plain), ("staff", staff)):
        clients[name] = Client(raise_request_exception=False)
        clients[name].force_login(user)
    return clients


def _server_errors(client, url):
    found = []
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        if response.status_code >= 500:
            exc = getattr(response, "exc_info", None)
            found.append(f"{method.upper()} {url}: {response.status_code} {exc[1]!r}" if exc else
                         f"{method.upper()} {url}: {response.status_code}")
    return found


@pytest.mark.django_db
def test_no_url_answers_a_server_error_to_anyone(visitors):
    errors, walked = [], 0
    for url, _pattern in _walk():
        walked += 1
        for who, client in visitors.items():
            errors += [f"{who}: {e}" for e in _server_errors(client, url)]
    assert walked > 150  # the app's routes and the admin's
    assert errors == []


def _login_required_routes():
    """Every route whose view needs a login (login, healthz and the admin's own views excepted)."""
    return [pytest.param(route, pattern, id=pattern.name or route) for route, pattern in _patterns()
            if getattr(pattern.callback, "login_required", True)]


@pytest.mark.django_db
@pytest.mark.parametrize("route, pattern", _login_required_routes())
def test_anonymous_visitors_are_sent_to_the_login_page(route, pattern):
    """The one login-required test: every such route, GET and POST, with every bad parameter value."""
    anonymous = Client(raise_request_exception=False)
    for url in _urls(route):
        for method in ("get", "post"):
            response = getattr(anonymous, method)(url)
            assert response.status_code == 302, f"{method} {url}"
            if response["Location"].startswith("/admin/login/"):  # the admin's views hand over to the app's login
                response = anonymous.get(response["Location"])
            assert response["Location"].startswith(reverse("login") + "?next="), f"{method} {url}"


def test_the_login_walk_covers_the_app():
    assert len(_login_required_routes()) > 50


@pytest.mark.django_db
def test_staff_views_refuse_other_users_with_a_sentence(visitors):
    plain = visitors["plain"]
    marked = set()
    for url, pattern in _walk():
        reason = getattr(pattern.callback, "staff_reason", None)
        if reason is None:
            continue
        marked.add(pattern.name)
        methods = pattern.callback.staff_methods or ("GET", "POST")
        for method in methods:
            response = getattr(plain, method.lower())(url)
            if response.status_code == 405:
                continue  # a POST-only action opened with GET
            body = response.content.decode()
            assert response.status_code == 403, f"{method} {url}"
            assert reason in body and "Not allowed" in body and "signed in as plain" in body, url
            assert "admin/login" not in body
    assert STAFF_VIEWS <= marked, f"not staff-only: {STAFF_VIEWS - marked}"


@pytest.mark.django_db
def test_unknown_job_labels_are_not_found(staff_client):
    for label in BAD_BY_NAME["label"]:
        assert staff_client.get(reverse("job-status", args=[label, 1])).status_code == 404
        assert staff_client.post(reverse("job-cancel", args=[label, 1])).status_code == 404


@pytest.mark.django_db
def test_the_admin_sends_other_users_to_the_app_not_to_a_second_login(visitors):
    anonymous = visitors["anonymous"].get("/admin/", follow=True)
    assert anonymous.redirect_chain[-1][0] == reverse("login") + "?next=/admin/"
    plain = visitors["plain"].get("/admin/", follow=True)
    assert plain.status_code == 403 and "Only staff can use the admin site." in plain.content.decode()
    assert visitors["staff"].get("/admin/login/?next=/admin/labeling/")["Location"] == "/admin/labeling/"
    assert visitors["staff"].get("/admin/login/?next=https://evil.example/")["Location"] == "/admin/"


def test_methods_limit_the_check_to_those_methods(rf, django_user_model):
    """A page everyone may read but only staff may post to (the imports page)."""
    from django.contrib.auth.models import AnonymousUser
    from django.core.exceptions import PermissionDenied
    from django.http import HttpResponse

    view = staff_required("Only staff can do it.", methods=("POST",))(lambda request: HttpResponse("ok"))
    user = django_user_model(username="x")
    get, post = rf.get("/"), rf.post("/")
    get.user = post.user = user
    assert view(get).content == b"ok"
    with pytest.raises(PermissionDenied, match="Only staff can do it."):
        view(post)
    post.user = AnonymousUser()
    assert view(post)["Location"].startswith("/login/")


@pytest.fixture
def objects(tmp_path):
    """One stored object of each kind the URLs point at, failed jobs among them."""
    from evaluation.models import EvalRun, Prediction
    from labeling.labels import store_label
    from labeling.models import ImportJob, Label, LabelingRun, SFTExport, Teacher
    from labeling.runs.services import default_prompt_version
    from training.models import AdapterMerge, TrainingRun

    from .factories import make_examples

    example = make_examples(tmp_path, 1)[0]
    teacher = Teacher.objects.create(name="t", base_url="http://127.0.0.1:9/v1", model="m")
    prompt = default_prompt_version()
    label = store_label(Label(example=example, source=Label.Source.TEACHER, model="m", teacher=teacher,
                              commits=[{"subject": "feat: add sys", "files": example.changed_files, "body": "",
                                        "issues": []}]))
    export = SFTExport.objects.create(state="failed", error="ValueError: no labels")
    run = TrainingRun.objects.create(base_model="tiny", export=export, state="failed", error="x")
    eval_run = EvalRun.objects.create(name="e", base_url="http://127.0.0.1:9/v1", model="m", example_ids=[example.pk])
    return {
        "example": example, "label": label, "teacher": teacher, "prompt": prompt, "export": export, "run": run,
        "merge": AdapterMerge.objects.create(run=run, state="failed", error="y"),
        "import": ImportJob.objects.create(source_path="/x", original_name="x", state="failed", error="z"),
        "labeling": LabelingRun.objects.create(teacher=teacher, prompt_version=prompt),
        "eval": eval_run,
        "prediction": Prediction.objects.create(run=eval_run, example=example, reference=label, raw="{}"),
    }


def _real_urls(o) -> dict[str, str]:
    """Each detail URL with the id of a stored object (name: URL)."""
    urls = {
        "example-detail": reverse("example-detail", args=[o["example"].pk]),
        "import-detail": o["import"].get_absolute_url(),
        "export-detail": o["export"].get_absolute_url(),
        "export-download": reverse("export-download", args=[o["export"].pk, "manifest.json"]),
        "labeling-run-detail": o["labeling"].get_absolute_url(),
        "labeling-run-resume": reverse("labeling-run-resume", args=[o["labeling"].pk]),
        "teacher-edit": reverse("teacher-edit", args=[o["teacher"].pk]),
        "prompt-detail": reverse("prompt-detail", args=[o["prompt"].pk]),
        "training-detail": o["run"].get_absolute_url(),
        "training-live": reverse("training-live", args=[o["run"].pk]),
        "training-merge": reverse("training-merge", args=[o["run"].pk]),
        "training-download": reverse("training-download", args=[o["run"].pk, "adapter/adapter_config.json"]),
        "eval-run-detail": o["eval"].get_absolute_url(),
        "eval-run-json": reverse("eval-run-json", args=[o["eval"].pk]),
        "eval-prediction": o["prediction"].get_absolute_url(),
        "review-item": reverse("review-item", args=[o["label"].pk]),
        "review-verdict": reverse("review-verdict", args=[o["label"].pk]),
    }
    for key in ("import", "export", "labeling", "run", "merge", "eval"):
        urls[f"job-status {key}"] = o[key].status_url()
    for key in ("example", "label", "teacher", "export", "run", "eval"):
        meta = o[key]._meta
        urls[f"admin {meta.label_lower}"] = reverse(f"admin:{meta.app_label}_{meta.model_name}_change",
                                                    args=[o[key].pk])
    return urls


@pytest.mark.django_db
def test_pages_of_stored_objects_render_and_bad_child_ids_are_not_found(visitors, objects, admin_client):
    urls = _real_urls(objects)
    errors = []
    for who in ("plain", "staff"):
        for url in urls.values():
            errors += [f"{who}: {e}" for e in _server_errors(visitors[who], url)]
    assert errors == []
    staff = visitors["staff"]
    for name, url in urls.items():
        if name in ("labeling-run-resume", "training-merge", "review-verdict", "export-download", "training-download"):
            continue  # actions, and files this run never wrote
        client = admin_client if name.startswith("admin ") else staff  # the admin needs model permissions
        assert client.get(url).status_code == 200, name
    missing_child = reverse("eval-prediction", args=[objects["eval"].pk, 987654321])
    assert staff.get(missing_child).status_code == 404
    assert staff.get(reverse("export-download", args=[objects["export"].pk, "settings.py"])).status_code == 404
