"""An import with no valid line fails (it is not a green "Succeeded"); bad-line reasons read cleanly."""
import json
import re
import struct
import zlib

import pytest
from django.core.management import CommandError, call_command

from gsctune.jobs import JobState, execute_job
from labeling.examples.services import create_import_job
from labeling.models import Example

from .factories import harvested, write_jsonl

pytestmark = pytest.mark.django_db(transaction=True)


def png_bytes() -> bytes:
    """A real 2x2 PNG (binary, with newline bytes inside its chunks)."""
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _run(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    job = create_import_job(path, name, enqueue=False)
    return execute_job(job.job_label, job.pk)


@pytest.mark.parametrize("name, content", [
    ("screenshot.png", png_bytes()),
    ("notes.txt", b"Some notes\nabout the harvest\n\nnot JSON at all\n"),
])
def test_a_file_without_one_valid_line_fails_with_its_counts(tmp_path, staff_client, name, content):
    job = _run(tmp_path, name, content)
    assert job.state == JobState.FAILED
    assert job.imported == 0 and job.bad_lines >= 1 and Example.objects.count() == 0
    expected = f"0 imported, {job.bad_lines} bad line{'s' if job.bad_lines != 1 else ''}"
    assert job.status_message == expected
    assert job.error.startswith(f"NothingImported: {expected}: the file has no valid line (line 1: ")
    page = staff_client.get(job.get_absolute_url()).content.decode()
    assert "Failed" in page and "Succeeded" not in page and expected in page
    listing = staff_client.get("/imports/").content.decode()
    assert re.search(r'<span class="badge failed">Failed</span>', listing)


def test_an_empty_file_fails(tmp_path):
    job = _run(tmp_path, "empty.jsonl", b"")
    assert job.state == JobState.FAILED and job.error.startswith("NothingImported: 0 imported: the file is empty")


def test_a_file_of_examples_already_there_still_succeeds(tmp_path):
    path = tmp_path / "a.jsonl"
    write_jsonl(path, [harvested(0), b"{oops\n"])
    assert _run(tmp_path, "a.jsonl", path.read_bytes()).state == JobState.SUCCEEDED
    again = _run(tmp_path, "b.jsonl", path.read_bytes())
    assert again.state == JobState.SUCCEEDED and (again.imported, again.already_present, again.bad_lines) == (0, 1, 1)


def test_the_command_fails_on_a_file_without_valid_lines(tmp_path, capsys):
    path = tmp_path / "image.png"
    path.write_bytes(png_bytes())
    with pytest.raises(CommandError, match="some files could not be imported"):
        call_command("import_examples", str(path))
    assert "import failed: NothingImported: 0 imported" in capsys.readouterr().err


def test_json_error_reasons_do_not_double_words(tmp_path):
    line = json.dumps(harvested(0))[:-1].replace('"main"', '"ma\tin"', 1).encode() + b"}\n"  # raw tab in a string
    unterminated = b'{"repo_url": "github.com/x'  # the last line, cut off
    job = _run(tmp_path, "bad.jsonl", line + unterminated)
    reasons = [p["reason"] for p in job.problems]
    assert reasons[0].startswith("invalid JSON: Invalid control character at column ")
    assert reasons[1].startswith("invalid JSON: Unterminated string starting at column ")
    assert not any(re.search(r"\b(\w+) \1\b", r) for r in reasons), reasons
