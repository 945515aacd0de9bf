"""The one seeded hash: the same text gives the same number on every machine and run.

Noise injection, the review gate's order, evaluation samples and the export split all
draw from it, so "seeded" means one thing everywhere.
"""
from __future__ import annotations

import hashlib
import random


def seeded_int(text: str) -> int:
    """A 64-bit number from the SHA-256 of ``text``."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def seeded_unit(text: str) -> float:
    """Uniform in [0, 1) from ``text``."""
    return seeded_int(text) / 2.0**64


def seeded_random(text: str) -> random.Random:
    """A random generator seeded from ``text``."""
    return random.Random(seeded_int(text))
