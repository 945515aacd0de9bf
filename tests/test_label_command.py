"""`manage.py label --concurrency N`: what is asked for is what runs, or the command says why not."""
import io
import re

import pytest
from django.core.management import CommandError, call_command

from labeling.models import LabelingRun, Teacher

from .factories import make_examples

pytestmark = pytest.mark.django_db(transaction=True)


def _label(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("label", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_flags_teacher_takes_the_asked_concurrency_as_its_maximum(openai_server, tmp_path):
    make_examples(tmp_path, 60)
    openai_server.latency = 0.3  # slow enough that requests overlap
    out, err = _label("--base-url", openai_server.base_url, "--model", "cli-model", "--concurrency", "40",
                      "--noise-prob", "0")
    run = LabelingRun.objects.get()
    assert run.teacher.max_concurrency == 40 and run.concurrency == 40
    assert out.startswith(f"run {run.pk} succeeded: 60 labeled, 0 failed of 60") and "capped" not in err
    assert openai_server.stats.max_in_flight > 16  # the old default maximum no longer caps it
    assert openai_server.stats.max_in_flight <= 40


def test_a_named_teacher_caps_the_request_and_the_command_says_how_to_raise_it(openai_server, tmp_path):
    make_examples(tmp_path, 2)
    teacher = Teacher.objects.create(name="shared", base_url=openai_server.base_url, model="m", max_concurrency=4)
    out, err = _label("--teacher", "shared", "--concurrency", "128")
    assert (f"--concurrency 128 is capped at 4, the maximum of teacher 'shared'; running at 4. To go higher, "
            f"raise its max concurrency on the teacher page ({teacher.get_absolute_url()}) or in the admin.") in err
    assert LabelingRun.objects.get().concurrency == 4
    teacher.refresh_from_db()
    assert teacher.max_concurrency == 4  # a configured teacher is not changed from the command line


@pytest.mark.parametrize("args, message", [
    (["--concurrency", "0"], "--concurrency must be at least 1 (got 0)"),
    (["--concurrency", "5000"], "invalid teacher: Ensure this value is less than or equal to 1024."),
])
def test_bad_concurrency_is_refused_before_anything_is_stored(openai_server, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        _label("--base-url", openai_server.base_url, "--model", "m", *args)
    assert not LabelingRun.objects.exists() and not Teacher.objects.exists()


def test_a_base_url_that_is_not_http_is_refused(tmp_path):
    with pytest.raises(CommandError, match=r"invalid teacher: Enter an http:// or https:// URL .*'127.0.0.1:8765/v1'"):
        _label("--base-url", "127.0.0.1:8765/v1", "--model", "m")
    assert not Teacher.objects.exists()

