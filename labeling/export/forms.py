"""The export form: its fields become ExportOptions."""
from __future__ import annotations

from django import forms

from . import snapshot as export


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


# Options errors shown under their own field (their messages start with the field's name).
OWN_FIELD_ERRORS = ("protocol_version", "system_prompt_from", "system_prompt_text")


class ExportForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    include_accepted = forms.BooleanField(required=False, initial=True)
    include_corrected = forms.BooleanField(required=False, initial=True)
    include_unreviewed = forms.BooleanField(required=False, initial=False)
    teachers = forms.MultipleChoiceField(required=False, help_text="None selected: every teacher.")
    prompt_versions = forms.MultipleChoiceField(required=False)
    exclude_findings = forms.MultipleChoiceField(required=False, help_text="Leave out labels with these findings.")
    repositories = forms.MultipleChoiceField(required=False)
    languages = forms.MultipleChoiceField(required=False)
    weight_corrected = forms.FloatField(min_value=0, max_value=100, initial=2.0)
    weight_accepted = forms.FloatField(min_value=0, max_value=100, initial=1.0)
    weight_unreviewed = forms.FloatField(min_value=0, max_value=100, initial=0.5)
    val_fraction = forms.FloatField(min_value=0, max_value=0.9, initial=0.1)
    max_val_fraction = forms.FloatField(required=False, min_value=0, max_value=0.9,
                                        help_text="Cap when covering languages (default 2 × the fraction).")
    seed = forms.IntegerField(initial=0)
    held_out = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                               help_text="Repositories forced into validation, one per line.")
    augment = forms.IntegerField(min_value=0, max_value=10, initial=0, help_text="Noisy copies per train row.")
    prompt = forms.ChoiceField(choices=[("labeling", "labeling prompt version"), ("short", "short finetune prompt")],
                               initial="labeling")
    max_diff_chars = forms.IntegerField(min_value=200, initial=24000)
    tokenizer = forms.CharField(required=False, max_length=1000,
                                help_text="Local tokenizer folder: truncate by tokens instead of characters.")
    max_diff_tokens = forms.IntegerField(required=False, min_value=50)
    target = forms.ChoiceField(
        required=False, choices=[(export.TOOL_TARGET, "git-smart-commit: the tool's conversation (tool calls)"),
                 (export.JSON_FILES, "json-files: one JSON answer per example")],
        help_text="git-smart-commit: each example is the tool's conversation (tools, system, the hunk list, one "
                  "emit_commit call and the tool's reply per commit, then finalize_commits), rendered with a "
                  "protocol version. json-files: one JSON answer of files per example. Default: git-smart-commit "
                  "once a protocol version has been captured.")
    protocol_version = forms.ChoiceField(
        required=False, help_text="git-smart-commit only. Latest captured by default; the built-in protocol "
                                  "is gsctune's own prompt (not what the tool sends) and is flagged in the manifest.")
    system_prompt_from = forms.ChoiceField(
        required=False, label="Training rows' system prompt",
        help_text="git-smart-commit only. The protocol's by default (what the tool sends). A prompt version's "
                  "system prompt (not its answer format) or your own text instead trains the student under a "
                  "prompt the tool does not send: the manifest and the export's page flag it.")
    system_prompt_text = forms.CharField(
        required=False, label="Own system prompt", widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Used when the training rows' system prompt is “own text below”.")
    read_new_files = forms.BooleanField(
        required=False, initial=True, label="Add read_file turns",
        help_text="The tool shows no content for new files: add the read_file (or get_diff, for a hunk it would "
                  "summarize) call and its reply before the commit that needs it, so the label does not rest on "
                  "content the student never sees. Off: only labels whose maker may have read that content get "
                  "them (reviewers' corrections, file-level or imported labels, hunk-level runs that showed the "
                  "teacher new files' content); labels of runs that showed the teacher only what the tool "
                  "shows get none.")
    keep_new_content = forms.BooleanField(
        required=False, initial=False, label="Show new files' content in the user turn",
        help_text="The tool does not show it; with it shown, no read_file turn is needed.")
    max_total = forms.IntegerField(required=False, min_value=100,
                                   help_text="Whole-conversation budget; longer rows are reported and left out.")

    def __init__(self, *args, choices: dict[str, list[str]], **kwargs):
        super().__init__(*args, **kwargs)
        for name, key in (("teachers", "teachers"), ("prompt_versions", "prompt_versions"),
                          ("repositories", "repositories"), ("languages", "languages")):
            self.fields[name].choices = [(v, v) for v in choices[key]]
        self.default_target = self.fields["target"].initial = choices.get("target", export.JSON_FILES)
        self.fields["protocol_version"].choices = (
            [("", "latest captured"), (export.BUILTIN_PROTOCOL, "built-in (not what the tool sends)")]
            + list(choices.get("protocols", [])))
        self.fields["system_prompt_from"].choices = (
            [("", "the protocol's (what the tool sends)")] + list(choices.get("system_prompts", []))
            + [(export.OWN_TEXT, "own text below")])
        self.fields["exclude_findings"].choices = (
            [(export.ANY_FINDING, "any finding")] + [(v, v) for v in choices["checks"]]
        )

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        data["target"] = data.get("target") or self.default_target
        try:
            data["options"] = self.to_options(data)
        except ValueError as exc:
            self.add_option_error(exc)
        return data

    def add_option_error(self, exc: ValueError) -> None:
        """An options error under the field it names (the chosen system prompt's, the protocol's),
        else above the form."""
        text = str(exc)
        named = text.split(":")[0].split()[0] if text else ""
        self.add_error(named if named in OWN_FIELD_ERRORS else None, text)

    @staticmethod
    def to_options(data: dict) -> export.ExportOptions:
        return export.ExportOptions(
            include_accepted=data["include_accepted"], include_corrected=data["include_corrected"],
            include_unreviewed=data["include_unreviewed"], teachers=data["teachers"],
            prompt_versions=data["prompt_versions"], exclude_findings=data["exclude_findings"],
            repositories=data["repositories"], languages=data["languages"],
            weights={"corrected": data["weight_corrected"], "accepted": data["weight_accepted"],
                     "unreviewed": data["weight_unreviewed"]},
            val_fraction=data["val_fraction"], max_val_fraction=data["max_val_fraction"], seed=data["seed"],
            held_out=_lines(data["held_out"]), augment=data["augment"], prompt=data["prompt"],
            max_diff_chars=data["max_diff_chars"], tokenizer=data["tokenizer"].strip() or None,
            max_diff_tokens=data["max_diff_tokens"], max_total=data["max_total"],
            target=data.get("target") or export.JSON_FILES, protocol_version=data.get("protocol_version") or "",
            system_prompt_from=data.get("system_prompt_from") or "",
            system_prompt_text=(data.get("system_prompt_text") or "")
            if data.get("system_prompt_from") == export.OWN_TEXT else "",
            read_new_files=data.get("read_new_files", True), keep_new_content=data.get("keep_new_content", False),
        )
