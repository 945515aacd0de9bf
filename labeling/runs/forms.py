"""Forms for teachers, prompt versions and labeling runs.

Every bound here is enforced twice: as an HTML attribute (``min``, ``type``) so the
browser stops a typo at once, and as a form validator so a request that skips the
browser gets a message naming the field. Bounds live in the forms, not the models,
so tightening them needs no migration.
"""
from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from gsctune import targets
from gsctune.endpoints import BASE_URL_EXAMPLE, validate_base_url

from ..models import LabelingRun, PromptVersion, Teacher
from .services import find_examples, teacher_title

BASE_URL_HELP = ("The API root of an OpenAI-compatible server, usually ending in /v1: for example "
                 f"{BASE_URL_EXAMPLE}, or http://127.0.0.1:8765/v1 for the offline baseline of "
                 "manage.py serve_baseline. Without /chat/completions.")


def set_bounds(form: forms.Form, bounds: dict[str, tuple]) -> None:
    """Apply (min, max, step) to number fields: widget attributes and validators alike."""
    for name, (low, high, *step) in bounds.items():
        field = form.fields[name]
        if low is not None:
            field.validators.append(MinValueValidator(low))
            field.widget.attrs["min"] = low
        if high is not None:
            field.validators.append(MaxValueValidator(high))
            field.widget.attrs["max"] = high
        if step:
            field.widget.attrs["step"] = step[0]


class SectionedForm:
    """A form laid out in titled sections of field rows (templates/labeling/_form_sections.html).

    ``SECTIONS`` holds (title, help, rows); a row is (field names, the selection it applies to or "").
    """

    SECTIONS: tuple = ()

    def sections(self):
        return [(title, text, [([self[name] for name in names], when) for names, when in rows])
                for title, text, rows in self.SECTIONS]


class TeacherChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Teacher) -> str:
        return teacher_title(obj, kind=False)


class PromptChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: PromptVersion) -> str:
        return targets.choice_label(obj)


class TeacherForm(SectionedForm, forms.ModelForm):
    SECTIONS = (
        ("Endpoint", "Where the teacher answers and how gsctune signs in.",
         [(("name", "model", "api_key_env"), ""), (("base_url", "is_baseline"), "")]),
        ("Answers", "What each request asks for.",
         [(("temperature", "max_output_tokens", "reasoning_effort"), "")]),
        ("Throughput and cost", "",
         [(("request_timeout", "max_concurrency", "price_input_per_million", "price_output_per_million"), "")]),
    )

    class Meta:
        model = Teacher
        fields = ["name", "is_baseline", "base_url", "model", "api_key_env", "temperature", "max_output_tokens",
                  "reasoning_effort", "request_timeout", "max_concurrency", "price_input_per_million",
                  "price_output_per_million"]
        widgets = {
            "base_url": forms.URLInput(attrs={"placeholder": BASE_URL_EXAMPLE, "pattern": "https?://.+",
                                              "title": "An http:// or https:// URL"}),
            "model": forms.TextInput(attrs={"placeholder": "qwen/qwen3-coder"}),
            "api_key_env": forms.TextInput(attrs={"placeholder": "OPENROUTER_API_KEY", "class": "mono",
                                                  "pattern": "[A-Za-z_][A-Za-z0-9_]*",
                                                  "title": "A variable name: letters, digits and _"}),
        }
        labels = {
            "is_baseline": "Rule-based baseline", "base_url": "Base URL", "max_output_tokens": "Max output tokens",
            "request_timeout": "Request timeout (s)", "max_concurrency": "Max concurrency",
            "price_input_per_million": "Price in, per million tokens",
            "price_output_per_million": "Price out, per million tokens",
        }
        help_texts = {
            "name": "Shown on run pages, in the review queue and on the gate page; unique.",
            "is_baseline": "The rule-based baseline of manage.py serve_baseline: its labels count as baseline "
                           "labels, never as a teacher's.",
            "base_url": BASE_URL_HELP,
            "model": "The model name the server expects; Test connection lists the names it offers.",
            "api_key_env": "The name of the environment variable that holds the key (for example "
                           "OPENROUTER_API_KEY), set where the worker runs. The key itself is never stored "
                           "or shown. Blank: no key (a local server).",
            "temperature": "0 to 2. Blank: not sent, the server's default. Low values give steadier labels.",
            "max_output_tokens": "Longest answer asked for; an answer cut off at this limit is recorded "
                                 "as truncated, not repaired.",
            "reasoning_effort": "Sent only to models that take a reasoning_effort parameter.",
            "request_timeout": "Seconds to wait for one answer before the request is retried.",
            "max_concurrency": "Most requests in flight at once to this endpoint. A run's concurrency is "
                               "capped at this.",
            "price_input_per_million": "For prompt tokens; 0 for a local server. Run pages show the cost.",
            "price_output_per_million": "For answer tokens; 0 for a local server.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        set_bounds(self, {
            "temperature": (0, 2, "0.05"),
            "max_output_tokens": (16, None),
            "request_timeout": (1, None, "any"),
            "max_concurrency": (1, 1024),
            "price_input_per_million": (0, None),
            "price_output_per_million": (0, None),
        })

    def clean_base_url(self) -> str:
        return validate_base_url(self.cleaned_data["base_url"])


class TeacherConnectionForm(forms.Form):
    """What the Test connection button sends: the endpoint fields as typed, saved or not."""

    base_url = forms.CharField(max_length=500, label="Base URL")
    model = forms.CharField(max_length=200, required=False)
    api_key_env = forms.CharField(max_length=100, required=False, label="API key environment variable")

    def clean_base_url(self) -> str:
        return validate_base_url(self.cleaned_data["base_url"])

    def clean_api_key_env(self) -> str:
        value = self.cleaned_data["api_key_env"].strip()
        if value:
            Teacher._meta.get_field("api_key_env").run_validators(value)
        return value


class PromptVersionForm(SectionedForm, forms.ModelForm):
    """Always creates a new version: existing ones are immutable once used."""

    SECTIONS = (
        ("Version", "", [(("name",), ""), (("granularity",), ""), (("notes",), "")]),
        ("Texts", "Sent together as the system message: the rules, then the output format, then the sample "
                  "answer introduced by “Example of a valid answer:”.",
         [(("system_prompt",), ""), (("output_format",), ""), (("sample_output",), "")]),
    )

    class Meta:
        model = PromptVersion
        fields = ["name", "granularity", "notes", "system_prompt", "output_format", "sample_output"]
        widgets = {f: forms.Textarea(attrs={"rows": r, "class": "mono"})
                   for f, r in (("system_prompt", 18), ("output_format", 6), ("sample_output", 6), ("notes", 2))}
        help_texts = {
            "name": "A short name for the list; the version number is added.",
            "granularity": "Hunks: commits list git-smart-commit's hunk ids (path::N), and its labels serve the "
                           "git-smart-commit target, the tool's tool-call loop. Files: commits list whole files, "
                           "and its labels serve json-files (they export to git-smart-commit too, each file's "
                           "hunks in its commit).",
            "notes": "What changed and why (optional); shown on the version's page.",
            "system_prompt": "The rules the teacher follows. The user turn (changed files, then the diff) is "
                             "added by gsctune.",
            "output_format": "The instruction on the answer's JSON shape (optional).",
            "sample_output": "One valid answer in that shape (optional).",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["granularity"].required = False  # left out: file level, as before the field existed

    def clean_granularity(self) -> str:
        return self.cleaned_data.get("granularity") or PromptVersion.Granularity.FILES


class LabelingRunForm(SectionedForm, forms.ModelForm):
    example_list_text = forms.CharField(
        required=False, label="Examples",
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono", "placeholder": "42\ngithub.com/org/repo@abc..def"}),
        help_text="Example ids or keys, one per line; every one must exist.")

    SECTIONS = (
        ("Teacher and prompt", "", [(("name", "teacher", "prompt_version"), "")]),
        ("Which examples", "", [
            (("selection",), ""),
            (("sample_size", "selection_seed"), "sample"),
            (("filter_repo", "filter_language", "filter_max_diff_chars"), "filter"),
            (("example_list_text",), "list"),
            (("limit",), ""),
        ]),
        ("Input, noise and concurrency",
         "Junk files (build output, editor backups) are injected into a share of the examples, so that the "
         "trained model learns to leave them out; the same seed injects the same files.",
         [(("noise_probability", "noise_seed", "max_diff_chars", "concurrency"), ""),
          (("teacher_sees_new_content",), "")]),
    )

    class Meta:
        model = LabelingRun
        fields = ["name", "teacher", "prompt_version", "selection", "sample_size", "selection_seed", "filter_repo",
                  "filter_language", "filter_max_diff_chars", "limit", "noise_probability", "noise_seed",
                  "max_diff_chars", "concurrency", "teacher_sees_new_content"]
        field_classes = {"teacher": TeacherChoiceField, "prompt_version": PromptChoiceField}
        labels = {"selection_seed": "Sample seed", "filter_repo": "Repository contains",
                  "filter_language": "Language", "filter_max_diff_chars": "Longest diff (characters)",
                  "noise_probability": "Noise probability", "max_diff_chars": "Cut diffs at (characters)",
                  "prompt_version": "Prompt version"}
        widgets = {"selection": forms.RadioSelect,
                   "filter_repo": forms.TextInput(attrs={"placeholder": "github.com/org/"}),
                   "filter_language": forms.TextInput(attrs={"placeholder": "python"})}
        help_texts = {
            "name": "Optional; shown next to the run number.",
            "selection": "Which examples the run labels; the settings of the choice appear below.",
            "teacher": "Add or edit one on the Teachers page.",
            "prompt_version": "The shipped default, or a version pasted on the Prompt versions page. Its target "
                              "comes with it: a hunk-level version labels for git-smart-commit (hunk ids), a "
                              "file-level one for json-files.",
            "sample_size": "How many examples the sample draws.",
            "selection_seed": "The same seed draws the same sample.",
            "filter_repo": "Part of the repository URL.",
            "filter_language": "One language as the harvester names it, for example python.",
            "filter_max_diff_chars": "Leave out examples whose diff is longer than this.",
            "limit": "At most this many examples of the selection (blank: all).",
            "noise_probability": "Share of examples that get junk files: 0 to 1.",
            "noise_seed": "The same seed injects the same junk into the same examples.",
            "max_diff_chars": "Longer diffs are cut at a line boundary with a visible marker.",
            "concurrency": "Requests in flight at once; blank: the teacher's maximum, which also caps it.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prompt_version"].queryset = PromptVersion.objects.select_related("protocol_version")  # its label
        set_bounds(self, {
            "sample_size": (1, None),
            "filter_max_diff_chars": (1, None),
            "limit": (1, None),
            "noise_probability": (0, 1, "0.05"),
            "max_diff_chars": (1000, None),
            "concurrency": (1, 1024),
        })

    def clean(self):
        data = super().clean()
        selection = data.get("selection")
        items = [line.strip() for line in (data.get("example_list_text") or "").splitlines() if line.strip()]
        if selection == LabelingRun.Selection.SAMPLE and not data.get("sample_size"):
            self.add_error("sample_size", "A sample needs a size.")
        if selection == LabelingRun.Selection.LIST:
            if not items:
                self.add_error("example_list_text", "List at least one example id or key.")
            else:
                _, missing = find_examples(items)
                if missing:
                    shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
                    self.add_error("example_list_text",
                                   f"{len(missing)} of {len(items)} listed examples do not exist: {shown}.")
        teacher, concurrency = data.get("teacher"), data.get("concurrency")
        if teacher and concurrency and concurrency > teacher.max_concurrency:
            self.add_error("concurrency", f"{teacher.name} allows at most {teacher.max_concurrency} requests at "
                                          "once; raise its maximum on the Teachers page, or ask for fewer.")
        data["example_list"] = items
        return data
