"""The export's files meet the training stack: token truncation with a real
tokenizer, ``datasets.load_dataset("json")``, the ChatML template, TRL's SFTTrainer."""

from __future__ import annotations

import json

import pytest

from gsctune.domain.prompts import parse_user_turn
from labeling.export import snapshot as E
from tests.sample_data import sample_examples
from tests.test_export import make_record


@pytest.fixture(scope="module")
def sample_records() -> list[dict]:
    # Every 3rd example of the generated sample: every repository, few examples.
    return [make_record(ex, i + 1) for i, ex in enumerate(sample_examples()) if i % 3 == 0]


@pytest.fixture(scope="module")
def tokenizer_dir(sample_records, tmp_path_factory):
    from training.tiny import train_tokenizer

    texts = [r["example"]["diff"][:4000] for r in sample_records]
    tok = train_tokenizer(texts + ['{"commits":[{"subject":"feat(core): change"}],"gitignore":[]}'],
                          vocab_size=800)
    folder = tmp_path_factory.mktemp("tok")
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def token_export(sample_records, tokenizer_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    opts = E.ExportOptions(val_fraction=0.2, augment=1, prompt="short", tokenizer=str(tokenizer_dir),
                           max_diff_tokens=300)
    return E.export(sample_records, opts, str(out)), out


def test_diffs_are_cut_to_the_token_budget(token_export, tokenizer_dir):
    from transformers import AutoTokenizer

    result, out = token_export
    tok = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    assert result.manifest["truncation"]["unit"] == "tokens"
    assert result.manifest["options"]["tokenizer"] == tokenizer_dir.name  # no local path in the manifest
    cut = 0
    for name in ("train.jsonl", "val.jsonl"):
        for line in (out / name).read_text(encoding="utf-8").splitlines():
            _, diff, truncated = parse_user_turn(json.loads(line)["messages"][1]["content"])
            assert len(tok(diff, add_special_tokens=False)["input_ids"]) <= 300
            cut += truncated
    assert cut and result.manifest["counts"]["truncated_examples"]


def test_files_load_with_datasets_and_apply_the_chat_template(token_export, tokenizer_dir):
    from datasets import load_dataset
    from transformers import AutoTokenizer

    result, out = token_export
    ds = load_dataset("json", data_files={"train": str(out / "train.jsonl"), "validation": str(out / "val.jsonl")})
    assert ds["train"].num_rows == result.manifest["counts"]["train_rows"]
    assert ds["validation"].num_rows == result.manifest["counts"]["val_rows"] > 0
    tok = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    for row in list(ds["train"])[:5] + list(ds["validation"])[:2]:
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        enc = tok.apply_chat_template(row["messages"], tokenize=True, return_dict=True,
                                      return_assistant_tokens_mask=True)
        mask = enc["assistant_masks"]
        assert 0 < sum(mask) < len(mask)
        answer = tok.decode([t for t, m in zip(enc["input_ids"], mask) if m])
        assert json.loads(answer.removesuffix("<|im_end|>"))["commits"]


@pytest.mark.slow
def test_sft_trainer_consumes_train_jsonl_unchanged(token_export, sample_records, tmp_path):
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from training.compat import ensure_cpu_fused_lm_head
    from training.tiny import build_tiny_model

    ensure_cpu_fused_lm_head()  # the training issue's CPU shim for TRL's Triton-only loss kernel
    _, out = token_export
    model_dir = build_tiny_model(tmp_path / "model", corpus=[r["example"]["diff"][:2000] for r in sample_records])
    ds = load_dataset("json", data_files={"train": str(out / "train.jsonl"), "validation": str(out / "val.jsonl")})
    config = SFTConfig(output_dir=str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=2,
                       max_length=1024, assistant_only_loss=True, logging_steps=1, report_to=[],
                       save_strategy="no", use_cpu=True)
    trainer = SFTTrainer(model=str(model_dir), args=config, train_dataset=ds["train"], eval_dataset=ds["validation"],
                         processing_class=AutoTokenizer.from_pretrained(model_dir, local_files_only=True))
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(loss > 0 for loss in losses)
