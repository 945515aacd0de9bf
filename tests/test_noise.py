"""Junk injection is deterministic, realistic and covered by its gitignore patterns."""

from gsctune.domain.diffs import diff_paths
from gsctune.domain.gitignore import is_ignored
from gsctune.domain.noise import CATALOGUE, apply_noise, junk_pattern_for, make_noise

FILES = ["src/app/core.py", "tests/test_core.py"]
DIFF = ("diff --git a/src/app/core.py b/src/app/core.py\nindex 1..2 100644\n--- a/src/app/core.py\n"
        "+++ b/src/app/core.py\n@@ -1 +1 @@\n-a\n+b\n"
        "diff --git a/tests/test_core.py b/tests/test_core.py\nindex 1..2 100644\n--- a/tests/test_core.py\n"
        "+++ b/tests/test_core.py\n@@ -1 +1 @@\n-a\n+b\n")


def test_same_key_and_seed_same_noise_other_seed_differs():
    a = [make_noise(f"repo@{i}", FILES, seed=1, probability=1.0) for i in range(30)]
    b = [make_noise(f"repo@{i}", FILES, seed=1, probability=1.0) for i in range(30)]
    c = [make_noise(f"repo@{i}", FILES, seed=2, probability=1.0) for i in range(30)]
    assert a == b
    assert [n.files for n in a] != [n.files for n in c]


def test_probability_and_count():
    noises = [make_noise(f"k{i}", FILES, seed=0, probability=0.3) for i in range(1000)]
    injected = [n for n in noises if n.injected]
    assert 240 < len(injected) < 360
    assert all(1 <= len(n.files) <= 3 for n in injected)
    assert not any(make_noise(f"k{i}", FILES, seed=0, probability=0.0).injected for i in range(50))


def test_patterns_cover_every_injected_file_and_diff_has_hunks():
    for i in range(200):
        noise = make_noise(f"k{i}", FILES, seed=3, probability=1.0)
        for path in noise.files:
            assert is_ignored(path, noise.gitignore), (path, noise.gitignore)
            assert junk_pattern_for(path) is not None
            assert f"diff --git a/{path} b/{path}\nnew file mode 100644\n" in noise.diff
        assert not set(noise.files) & set(FILES)


def test_binary_and_text_hunks_exist_in_catalogue():
    kinds = {e["kind"] == "binary" for e in CATALOGUE}
    assert kinds == {True, False}
    diffs = "".join(make_noise(f"k{i}", FILES, seed=5, probability=1.0).diff for i in range(100))
    assert "Binary files /dev/null and b/" in diffs
    assert "--- /dev/null\n+++ b/" in diffs and "@@ -0,0 +1," in diffs


def test_already_ignored_junk_is_not_injected():
    ignore_all = [e["pattern"] for e in CATALOGUE]
    assert not make_noise("k", FILES, seed=0, probability=1.0, existing_gitignore=ignore_all).injected
    noise = make_noise("k1", FILES, seed=0, probability=1.0, existing_gitignore=["__pycache__/", "*.pyc"])
    assert not any("pyc" in f for f in noise.files)


def test_apply_noise_appends_junk_after_the_real_change():
    noise = make_noise("k7", FILES, seed=0, probability=1.0)
    files, diff = apply_noise(FILES, DIFF, noise)
    assert files == FILES + noise.files
    assert diff == DIFF + noise.diff
    assert diff_paths(diff) == FILES + noise.files
    assert apply_noise(FILES, DIFF.rstrip("\n"), noise)[1] == DIFF + noise.diff


def test_gitignore_matching():
    assert is_ignored("a/__pycache__/x.pyc", ["__pycache__/"])
    assert not is_ignored("__pycache__", ["__pycache__/"])
    assert is_ignored("src/.x.swp", ["*.swp"])
    assert is_ignored("build/x.o", ["/build/"])
    assert not is_ignored("src/build/x.o", ["/build/"])
    assert is_ignored("docs/.env", ["docs/.env"])
    assert not is_ignored("keep", ["!keep"])
