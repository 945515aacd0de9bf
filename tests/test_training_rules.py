"""training.rules and the estimate's new parts: refused combinations, transformers' choices, Unsloth's model id,
answers cut by max length, and the worker-side errors in words."""

from __future__ import annotations

import json

import pytest

from training import estimate as est
from training import rules
from training.backends import BaseModelError, check_base_model
from training.entry import TrainConfig

CODER = "Qwen/Qwen3-Coder-30B-A3B-Instruct"
CODER_CONFIG = est.PRESETS[CODER]


def cfg(**kw) -> dict:
    return {"base_model": CODER, "backend": "trl", "precision": "bf16", "lora_dropout": 0.0, "train_experts": True,
            "scheduler": "cosine", "optimizer": "adamw_8bit"} | kw


def fields(found):
    return [name for name, _ in found]


# --------------------------------------------------------------------------- refused combinations


def test_trl_4bit_on_a_moe_model_is_refused_with_the_reason():
    found = rules.problems(cfg(precision="4bit"))
    assert fields(found) == ["precision"]
    assert "fused expert weights in bf16" in found[0][1] and "fp32 (116 GB" in found[0][1]
    assert rules.problems(cfg(precision="4bit", backend="unsloth")) == []
    assert rules.problems(cfg(precision="4bit", base_model="Qwen/Qwen3-8B")) == []  # dense: fine


@pytest.mark.parametrize("gpu", ["H100 80GB", "H200 141GB"])
def test_the_estimate_never_says_trl_4bit_moe_fits(gpu):
    e = est.estimate(CODER_CONFIG, precision="4bit", backend="trl", batch_size=1, seq_len=512, gpu=gpu)
    assert not e.fits and e.weights_gb > 116  # the fp32 experts alone are 116 GB
    assert "Refused" in " ".join(e.warnings)
    assert est.estimate(CODER_CONFIG, precision="4bit", backend="unsloth", batch_size=1, seq_len=512, gpu=gpu).fits


def test_lora_dropout_is_refused_only_where_peft_wraps_expert_parameters():
    assert fields(rules.problems(cfg(lora_dropout=0.05))) == ["lora_dropout"]
    assert fields(rules.problems(cfg(lora_dropout=0.05, backend="unsloth"))) == ["lora_dropout"]
    assert rules.problems(cfg(lora_dropout=0.05, train_experts=False)) == []
    assert rules.problems(cfg(lora_dropout=0.05, precision="4bit", backend="unsloth")) == []  # experts frozen
    assert rules.problems(cfg(lora_dropout=0.05, base_model="Qwen/Qwen3-8B")) == []


def test_trl_bf16_moe_estimate_adds_the_expert_delta_rebuild():
    trl = est.estimate(CODER_CONFIG, precision="bf16", backend="trl", batch_size=1, seq_len=2048)
    unsloth = est.estimate(CODER_CONFIG, precision="bf16", backend="unsloth", batch_size=1, seq_len=2048)
    # one layer's fused experts (128 x 2048 x (1536 + 768) bf16 = 1.21 GB), rebuilt and its gradient
    assert trl.expert_delta_gb == pytest.approx(2.42, abs=0.01)
    assert unsloth.expert_delta_gb == 0
    assert trl.total_gb == pytest.approx(unsloth.total_gb + trl.expert_delta_gb + (trl.lora_gb - unsloth.lora_gb),
                                         abs=0.2)
    frozen = est.estimate(CODER_CONFIG, backend="trl", train_experts=False)
    assert frozen.expert_delta_gb == 0


# --------------------------------------------------------------------------- what transformers offers


def test_scheduler_and_optimizer_choices_are_the_installed_transformers():
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    assert rules.scheduler_names() == tuple(s.value for s in SchedulerType)
    offered = {value: label for _, group in rules.optimizer_choices() for value, label in group}
    assert set(offered) == {o.value for o in OptimizerNames}
    assert offered["adamw_8bit"] == "adamw_8bit (needs bitsandbytes and a CUDA GPU)"
    assert offered["adamw_torch"] == "adamw_torch"
    found = rules.problems(cfg(scheduler="cosine_annealing", optimizer="adam8"))
    assert fields(found) == ["scheduler", "optimizer"]
    assert "cosine_with_restarts" in found[0][1]


# --------------------------------------------------------------------------- the model Unsloth loads


def test_unsloth_loads_its_own_repository_for_qwen3_coder():
    assert rules.unsloth_model_id(CODER) == "unsloth/Qwen3-Coder-30B-A3B-Instruct"
    assert rules.unsloth_model_id("Qwen/Qwen3-8B", "4bit") == "unsloth/Qwen3-8B-unsloth-bnb-4bit"
    assert rules.unsloth_model_id("Qwen/Qwen3-30B-A3B", "4bit") == "unsloth/Qwen3-30B-A3B"  # its BAD_MAPPINGS
    assert rules.unsloth_model_id("someone/unknown-model") == "someone/unknown-model"
    assert rules.loaded_model_id(cfg()) == CODER
    assert rules.loaded_model_id(cfg(backend="unsloth")) == "unsloth/Qwen3-Coder-30B-A3B-Instruct"


def _cache_repo(cache, repo: str) -> None:
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0" * 40)
    snap = folder / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(CODER_CONFIG))


def test_offline_check_looks_for_what_the_backend_loads(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(BaseModelError, match="unsloth backend loads unsloth/Qwen3-Coder-30B-A3B-Instruct"):
        check_base_model(CODER, "unsloth", "bf16")
    _cache_repo(tmp_path, "unsloth/Qwen3-Coder-30B-A3B-Instruct")
    check_base_model(CODER, "unsloth", "bf16")  # Unsloth's copy is cached: fine
    with pytest.raises(BaseModelError, match=f"huggingface-cli download {CODER}"):
        check_base_model(CODER, "trl", "bf16")  # TRL loads the Qwen repository itself
    monkeypatch.delenv("HF_HUB_OFFLINE")
    check_base_model(CODER, "trl", "bf16")  # online it will download


# --------------------------------------------------------------------------- the entry applies the same rules


@pytest.fixture
def tiny_moe_config(tmp_path):
    from training.tiny import tiny_config

    folder = tmp_path / "tiny-moe"
    folder.mkdir()
    tiny_config(300, moe=True).to_json_file(str(folder / "config.json"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text("")
    return folder


def test_entry_validate_refuses_what_the_form_refuses(tmp_path, tiny_moe_config):
    base = {"base_model": str(tiny_moe_config), "data_dir": str(tmp_path / "data"), "output_dir": str(tmp_path)}
    with pytest.raises(ValueError, match="lora_dropout: LoRA dropout must be 0"):
        TrainConfig(**base, lora_dropout=0.1).validate()
    with pytest.raises(ValueError, match="precision: TRL \\+ 4-bit on an MoE model is refused"):
        TrainConfig(**base, backend="trl", precision="4bit").validate()
    with pytest.raises(ValueError, match="scheduler: Unknown scheduler 'wsd'"):
        TrainConfig(**base, scheduler="wsd").validate()
    TrainConfig(**base).validate()


# --------------------------------------------------------------------------- answers cut by max length


def write_rows(path, rows):
    path.write_text("".join(json.dumps({"messages": m}) + "\n" for m in rows))
    return path


def convo(prompt: str, answer: str) -> list[dict]:
    return [{"role": "system", "content": "Write commits."}, {"role": "user", "content": prompt},
            {"role": "assistant", "content": answer}]


@pytest.fixture(scope="module")
def tokenizer():
    from training.tiny import train_tokenizer

    return train_tokenizer(["diff --git a/x.py b/x.py +print(1)", '{"commits": []}', "Write commits."],
                           vocab_size=300)


def test_answer_loss_counts_with_the_tokenizer(tmp_path, tokenizer):
    rows = [convo("short diff", '{"commits": []}'), convo("diff " * 40, '{"commits": []}'),
            convo("diff " * 400, '{"commits": []}')]
    lengths = est.conversation_lengths_with(write_rows(tmp_path / "train.jsonl", rows), tokenizer)
    assert lengths.exact and "tokenizer" in lengths.method
    for (p, f), messages in zip(zip(lengths.prompt, lengths.full), rows):
        head = tokenizer.apply_chat_template(messages[:2], add_generation_prompt=True, return_dict=True)
        assert p == len(head["input_ids"]) and p < f
    # between the second example's prompt and its end: it loses its tail, the third its whole answer
    cut = lengths.prompt[1] + 2
    loss = est.answer_loss(lengths, cut)
    assert (loss.lost_all, loss.lost_part, loss.total) == (1, 1, 3)
    assert loss.message() == f"1 of 3 train examples lose their answer at max length {cut}; 1 more lose the end of " \
                             "their answer"
    assert rules.answer_problem(loss) is None
    everything = est.answer_loss(lengths, lengths.prompt[0])
    assert everything.lost_all == 3
    assert rules.answer_problem(everything).startswith(
        f"3 of 3 train examples lose their answer at max length {lengths.prompt[0]}: no train example would keep")
    assert est.answer_loss(lengths, 10_000).message() == "All 3 train examples fit in max length 10000"


def test_answer_loss_without_a_tokenizer_uses_the_character_rule(tmp_path):
    path = write_rows(tmp_path / "train.jsonl", [convo("x" * 700, "y" * 70)])
    lengths = est.conversation_lengths_with(path)
    assert not lengths.exact and "3.5 characters per token" in lengths.method
    # 14 + 700 characters of prompt / 3.5 = 204 tokens, plus 5 per message and 5 for the answer's header
    assert lengths.prompt == [204 + 15] and lengths.full == [int(784 / 3.5) + 15]
    assert est.answer_loss(lengths, 200).lost_all == 1


def test_entry_refuses_in_words_when_every_answer_is_cut(tmp_path, tokenizer):
    write_rows(tmp_path / "train.jsonl", [convo("diff " * 100, "{}")] * 3)
    config = TrainConfig(base_model="x", data_dir=str(tmp_path), output_dir=str(tmp_path), max_length=32)
    with pytest.raises(ValueError, match="max_length: 3 of 3 train examples lose their answer at max length 32"):
        rules.require_trainable_examples(config, tokenizer)
    rules.require_trainable_examples(TrainConfig(base_model="x", data_dir=str(tmp_path), output_dir=str(tmp_path),
                                                 max_length=4096), tokenizer)


@pytest.mark.slow
def test_a_worker_run_with_no_answer_left_fails_in_words(tmp_path, capsys):
    """The real entry on a tiny model: the error line says why, not TRL's num_samples=0."""
    from tests.fixtures_training import quick_options, shared_tiny_setup
    from training import entry

    setup = shared_tiny_setup(tmp_path)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"base_model": str(setup["dense"]), "data_dir": str(setup["export"]),
                                  "output_dir": str(tmp_path / "out"), **quick_options(max_length=20)}))
    with pytest.raises(ValueError):
        entry.main(["--config", str(config)])
    error = json.loads(capsys.readouterr().out.split(entry.ERROR_PREFIX)[-1].splitlines()[0])["error"]
    assert "train examples lose their answer at max length 20" in error and "num_samples" not in error


# --------------------------------------------------------------------------- the run counts what the estimate counts


@pytest.mark.slow
@pytest.mark.parametrize("moe", [False, True])
def test_run_parameter_counts_equal_the_estimate(tmp_path, moe):
    from training.backends import load_trl
    from training.tiny import build_tiny_model

    folder = build_tiny_model(tmp_path / "m", moe=moe, vocab_size=300)
    model, _, _ = load_trl(TrainConfig(base_model=str(folder), data_dir=str(tmp_path), output_dir=str(tmp_path),
                                       lora_r=8))
    e = est.estimate(est.load_model_config(str(folder)), lora_r=8)
    assert est.parameter_counts(model) == {"trainable_params": e.trainable_params, "total_params": e.total_params}
