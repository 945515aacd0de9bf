"""Training defaults: written once, on ``training.entry.TrainConfig``.

The run model's field defaults, the ``manage.py train`` options and the launch form's
seed plan all read them from here, so they cannot disagree.
"""
from __future__ import annotations

import dataclasses

from training.entry import TrainConfig


def train_defaults() -> dict:
    """Every TrainConfig field that has a default, with that default (lists copied)."""
    out = {}
    for f in dataclasses.fields(TrainConfig):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


DEFAULTS = train_defaults()
