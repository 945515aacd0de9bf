"""json_text writes exactly what json.dumps writes, whichever encoder it takes."""
import json
import random

import pytest

from gsctune.domain.records import json_text


def stdlib(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("value", [
    {"usage": {"prompt_tokens": 12, "cost_usd": 1e-05}},  # orjson would write 0.00001
    [float("nan"), float("inf"), -0.0, 1e16, 2.5e-7],
    {"diff": "bad \ud800 surrogate"},  # orjson refuses lone surrogates
    {1: "int key", "s": 2},  # json turns the key into "1"; orjson refuses it
    {"big": 2**70, "neg": -(2**63) - 1},
    {"text": "é ü \u2028 \u2029 \x00 \x1f \x7f \t\n\r\b\f \\ \" 😀 </script>"},
    {"nested": [{"a": [True, False, None, ("t", "u")]}], "empty": {}, "list": []},
])
def test_edge_values_match_the_json_module(value):
    assert json_text(value) == stdlib(value)


def test_random_documents_match_the_json_module():
    rng = random.Random(7)
    alphabet = "ab\n\t\"\\/é😀\u2028\x01 {}[]:,"

    def make(depth: int):
        kind = rng.randrange(7 if depth < 4 else 4)
        if kind == 0:
            return "".join(rng.choice(alphabet) for _ in range(rng.randrange(20)))
        if kind == 1:
            return rng.randrange(-10**12, 10**12)
        if kind == 2:
            return rng.choice([True, False, None])
        if kind == 3:
            return rng.random() * 10 ** rng.randrange(-9, 18)
        if kind in (4, 5):
            return [make(depth + 1) for _ in range(rng.randrange(4))]
        return {f"k{i}{rng.choice(alphabet)}": make(depth + 1) for i in range(rng.randrange(4))}

    docs = [make(0) for _ in range(2000)]
    assert [json_text(d) for d in docs] == [stdlib(d) for d in docs]
    assert any(isinstance(d, float) for d in docs)  # the float path was taken
