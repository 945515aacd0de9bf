"""The typed environment readers fail loudly, naming the variable."""
import pytest
from django.core.exceptions import ImproperlyConfigured

from gsctune.env import env_bool, env_float, env_int, env_list, env_path, env_str, read_or_create_secret


def test_readers_parse_good_values(monkeypatch, tmp_path):
    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_FLOAT", "0.25")
    monkeypatch.setenv("X_LIST", "a.example, b.example,,")
    monkeypatch.setenv("X_PATH", str(tmp_path))
    assert env_bool("X_BOOL", False) is True
    assert env_int("X_INT", 1) == 42
    assert env_float("X_FLOAT", 1.0) == 0.25
    assert env_list("X_LIST", []) == ["a.example", "b.example"]
    assert env_path("X_PATH", tmp_path / "other") == tmp_path.resolve()
    assert env_str("X_MISSING", "fallback") == "fallback"


@pytest.mark.parametrize("reader,value,message", [
    (lambda: env_bool("X", False), "maybe", "X='maybe' is not a boolean"),
    (lambda: env_int("X", 1), "12abc", "X='12abc' is not an integer"),
    (lambda: env_int("X", 1, minimum=2), "1", "X=1 is below the minimum 2"),
    (lambda: env_float("X", 1.0), "fast", "X='fast' is not a number"),
])
def test_readers_reject_bad_values(monkeypatch, reader, value, message):
    monkeypatch.setenv("X", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        reader()


def test_required_variable_is_named(monkeypatch):
    monkeypatch.delenv("X_REQUIRED", raising=False)
    with pytest.raises(ImproperlyConfigured, match="X_REQUIRED is required"):
        env_str("X_REQUIRED")


def test_path_that_is_a_file_is_rejected(monkeypatch, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    monkeypatch.setenv("X_PATH", str(target))
    with pytest.raises(ImproperlyConfigured, match="is not a directory"):
        env_path("X_PATH", tmp_path)


def test_generated_secret_is_kept_private_and_stable(tmp_path):
    path = tmp_path / "secret_key"
    first = read_or_create_secret(path)
    assert len(first) > 40 and read_or_create_secret(path) == first
    assert oct(path.stat().st_mode & 0o777) == "0o600"
