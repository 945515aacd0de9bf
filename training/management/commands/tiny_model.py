"""Build a tiny random Qwen3 (or Qwen3-MoE) with a tokenizer trained on the spot: the training loop on any CPU."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from training.tiny import CHAT_TEMPLATES, build_tiny_model, corpus_from_jsonl, named_chat_template, train_tokenizer


class Command(BaseCommand):
    help = "Save a tiny random Qwen3 / Qwen3-MoE model and ChatML tokenizer to --out (seconds, no download)."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="Folder to write (created)")
        parser.add_argument("--moe", action="store_true", help="Qwen3-MoE (4 experts, 2 active) instead of dense")
        parser.add_argument("--corpus", help="JSONL (harvested or SFT) whose text trains the tokenizer")
        parser.add_argument("--vocab-size", type=int, default=2000)
        parser.add_argument("--chat-template", choices=CHAT_TEMPLATES, default="chatml",
                            help="qwen3 or qwen3-coder: a tool-calling template (train on and serve tool calls)")

    def handle(self, *args, **o):
        corpus = None
        if o["corpus"]:
            if not Path(o["corpus"]).exists():
                raise CommandError(f"Corpus file not found: {o['corpus']}")
            corpus = corpus_from_jsonl(o["corpus"])
        tokenizer = train_tokenizer(corpus or [], vocab_size=o["vocab_size"])
        tokenizer.chat_template = named_chat_template(o["chat_template"])
        out = build_tiny_model(o["out"], moe=o["moe"], tokenizer=tokenizer)
        kind = "Qwen3-MoE" if o["moe"] else "Qwen3"
        self.stdout.write(self.style.SUCCESS(f"Tiny {kind} saved to {out} ({o['chat_template']} chat template)"))
