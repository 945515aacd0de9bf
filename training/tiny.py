"""Tiny random Qwen3 / Qwen3-MoE models with a tokenizer trained on the spot.

They load through exactly the same ``from_pretrained`` code as the real base
models, so the whole training loop can run on a laptop CPU (and in tests)
without downloading anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# ChatML with {% generation %} around the assistant content so TRL's
# assistant_only_loss can mask everything else; <|im_end|> sits inside the block
# (the model must learn to stop), the newline after it outside.
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

_FALLBACK_CORPUS = [
    "feat(training): add tiny model builder",
    "fix(parser): accept fenced JSON output",
    '{"commits": [{"subject": "docs: update readme", "files": ["README.md"]}], "gitignore": []}',
    "diff --git a/src/app.py b/src/app.py\n+def main():\n+    return 0\n",
]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2000):
    """Train a byte-level BPE and wrap it as a ChatML ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts) or _FALLBACK_CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML_TEMPLATE,
        model_max_length=32768,
    )


def corpus_from_jsonl(path: str | Path, limit: int = 200) -> list[str]:
    """Texts to train the tokenizer on: SFT messages or harvested diffs, whichever the file holds."""
    texts: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if len(texts) >= limit:
                break
            line = line.strip()
            if not line:
                continue
            obj = json.loads(line)
            if "messages" in obj:
                texts.extend(m.get("content", "") for m in obj["messages"])
            else:
                texts.append(obj.get("diff", "")[:20000])
                texts.extend(c.get("subject", "") for c in obj.get("original_commits", []))
    return texts


def tiny_config(vocab_size: int, moe: bool = False, hidden_size: int = 64, layers: int = 2):
    """A Qwen3 (or Qwen3-MoE) config small enough to train in seconds on a CPU."""
    from transformers import Qwen3Config, Qwen3MoeConfig

    common = dict(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden_size // 4,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        rope_theta=10000.0,
    )
    if moe:
        return Qwen3MoeConfig(
            intermediate_size=hidden_size * 2,
            moe_intermediate_size=hidden_size,
            num_experts=4,
            num_experts_per_tok=2,
            decoder_sparse_step=1,
            norm_topk_prob=True,
            **common,
        )
    return Qwen3Config(intermediate_size=hidden_size * 2, **common)


def build_tiny_model(
    out_dir: str | Path,
    moe: bool = False,
    corpus: Iterable[str] | None = None,
    vocab_size: int = 2000,
    hidden_size: int = 64,
    layers: int = 2,
    seed: int = 0,
    tokenizer=None,
) -> Path:
    """Build, save and return the folder of a tiny random model plus tokenizer (trained here unless given)."""
    import torch
    from transformers import AutoModelForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer or train_tokenizer(corpus or _FALLBACK_CORPUS, vocab_size=vocab_size)
    config = tiny_config(len(tokenizer), moe=moe, hidden_size=hidden_size, layers=layers)
    config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.bos_token_id = None
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    # Tells the GGUF converter step that this tokenizer's pre-tokenizer is ours, not a known one.
    (out / "gsctune_tiny.json").write_text(json.dumps({"moe": moe, "vocab_size": len(tokenizer)}))
    return out


# A template shaped like Qwen3-Coder's, without {% generation %} markers: tools listed in the system
# turn, tool calls as <tool_call><function=NAME><parameter=KEY>VALUE</parameter></function></tool_call>,
# consecutive tool replies grouped in one user turn. Tests and the GPU smoke script use it to check
# that gsctune's own assistant mask works for a template TRL does not know.
CODER_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}{%- set sys = messages[0]['content'] %}"
    "{%- set rest = messages[1:] %}{%- else %}{%- set sys = '' %}{%- set rest = messages %}{%- endif %}"
    "{%- if sys or tools %}{{- '<|im_start|>system\\n' + sys }}"
    "{%- if tools %}{{- '\\n\\nTools you may call:\\n<tools>' }}"
    "{%- for t in tools %}{{- '\\n' + (t.function if t.function is defined else t) | tojson }}{%- endfor %}"
    "{{- '\\n</tools>' }}{%- endif %}{{- '<|im_end|>\\n' }}{%- endif %}"
    "{%- for m in rest %}"
    "{%- if m.role == 'assistant' %}{{- '<|im_start|>assistant\\n' + (m.content or '') }}"
    "{%- for c in m.tool_calls or [] %}{%- set f = c.function if c.function is defined else c %}"
    "{{- '\\n<tool_call>\\n<function=' + f.name + '>\\n' }}"
    "{%- for k, v in (f.arguments or {}) | items %}{{- '<parameter=' + k + '>\\n' }}"
    "{{- v if v is string else v | tojson }}{{- '\\n</parameter>\\n' }}{%- endfor %}"
    "{{- '</function>\\n</tool_call>' }}{%- endfor %}{{- '<|im_end|>\\n' }}"
    "{%- elif m.role == 'tool' %}"
    "{%- if loop.first or loop.previtem.role != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}"
    "{{- '\\n<tool_response>\\n' + m.content + '\\n</tool_response>' }}"
    "{%- if loop.last or loop.nextitem.role != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}"
    "{%- else %}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

CHAT_TEMPLATES = ("chatml", "qwen3", "qwen3-coder")


def named_chat_template(name: str) -> str:
    """``chatml`` (gsctune's, no tools), ``qwen3`` (Qwen3's own tool-calling template, as TRL ships it) or
    ``qwen3-coder`` (CODER_TEMPLATE): a tiny model can then train on and serve tool calls."""
    if name == "chatml":
        return CHATML_TEMPLATE
    if name == "qwen3-coder":
        return CODER_TEMPLATE
    if name == "qwen3":
        import trl

        return (Path(trl.__file__).parent / "chat_templates" / "qwen3.jinja").read_text(encoding="utf-8")
    raise ValueError(f"Unknown chat template {name!r}: one of {', '.join(CHAT_TEMPLATES)}")
