"""The memory/time estimate: published Qwen3-Coder-30B-A3B figures, and LoRA counts that match PEFT's."""

import pytest

from training import estimate as est

QWEN3_CODER_30B = {  # published config.json values
    "model_type": "qwen3_moe", "vocab_size": 151936, "hidden_size": 2048, "num_hidden_layers": 48,
    "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128, "num_experts": 128,
    "num_experts_per_tok": 8, "moe_intermediate_size": 768, "intermediate_size": 6144,
    "tie_word_embeddings": False,
}


def within(value, target, tolerance=0.25):
    return abs(value - target) <= tolerance * target


@pytest.mark.parametrize("backend", ["unsloth"])  # TRL adds fp32 adapters and the expert rebuild:
def test_qwen3_coder_30b_bf16_lora_r32_is_about_63_gb(backend):  # tests/test_training_rules.py
    e = est.estimate(QWEN3_CODER_30B, precision="bf16", lora_r=32, backend=backend, batch_size=1, seq_len=2048)
    assert 30.0e9 < e.total_params < 31.0e9 and 3.0e9 < e.active_params < 3.7e9
    assert within(e.total_gb, 63), e
    assert e.fits  # an 80 GB H100


@pytest.mark.parametrize("backend", ["unsloth"])  # TRL + 4-bit on MoE is refused (tests/test_training_rules.py)
def test_qwen3_coder_30b_4bit_is_about_18_gb(backend):
    e = est.estimate(QWEN3_CODER_30B, precision="4bit", lora_r=32, backend=backend, batch_size=1, seq_len=2048)
    assert within(e.total_gb, 18), e
    assert any("attention only" in w for w in e.warnings)


def test_long_batches_warn_when_the_gpu_is_too_small():
    e = est.estimate(QWEN3_CODER_30B, precision="bf16", batch_size=4, seq_len=8192, gpu="H100 80GB")
    assert not e.fits and "more than the 80 GB" in e.warnings[-1]
    assert est.estimate(QWEN3_CODER_30B, precision="bf16", batch_size=4, seq_len=8192, gpu="H200 141GB").fits
    assert not est.estimate(QWEN3_CODER_30B, gpu="custom", gpu_gb=24).fits


def test_time_per_epoch_scales_with_tokens():
    one = est.estimate(QWEN3_CODER_30B, tokens=1_000_000).hours_per_epoch
    assert one > 0 and est.estimate(QWEN3_CODER_30B, tokens=2_000_000).hours_per_epoch == pytest.approx(2 * one, 0.01)


def test_presets_and_missing_config(tmp_path):
    assert est.load_model_config("Qwen/Qwen3-Coder-30B-A3B-Instruct")["num_experts"] == 128
    with pytest.raises(est.ConfigNotFound, match="huggingface-cli download"):
        est.load_model_config(str(tmp_path / "nowhere"))


@pytest.mark.slow
@pytest.mark.parametrize("moe", [False, True])
def test_lora_count_matches_peft_on_a_tiny_model(tmp_path, moe):
    """The estimator's trainable parameters equal what PEFT creates on the same architecture."""
    from training.backends import load_trl
    from training.entry import TrainConfig
    from training.tiny import build_tiny_model

    folder = build_tiny_model(tmp_path / "m", moe=moe, vocab_size=300)
    cfg = TrainConfig(base_model=str(folder), data_dir=str(tmp_path), output_dir=str(tmp_path), lora_r=8)
    model, _, _ = load_trl(cfg)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    config = est.load_model_config(str(folder))
    e = est.estimate(config, lora_r=8)
    assert e.trainable_params == trainable
    assert e.total_params == sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    assert est.Shapes.from_config(config).experts == (4 if moe else 0)  # transformers 5 writes num_local_experts
