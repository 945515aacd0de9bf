"""Launch forms for eval runs and comparison sets (staff only).

Every error is attached to the field it is about, so the page can name the field.
"""
from django import forms

from gsctune import targets
from gsctune.endpoints import validate_base_url
from labeling.models import Label, PromptVersion, ProtocolVersion, SFTExport
from training.models import TrainingRun

from .models import EvalRun


class EvalRunForm(forms.Form):
    SOURCES = (("sample", "Seeded sample of labeled examples"), ("export", "An export's validation split"))
    # Fieldsets of the page: (legend, help, field names, shown only for "field=value" or None).
    SECTIONS = (
        ("System", "What answers: a served model, or an adapter loaded on a gpu worker.",
         ("name", "backend", "training_run"), None),
        ("Endpoint", "Any OpenAI-compatible server: Ollama, vLLM, SGLang, OpenRouter …",
         ("base_url", "model", "api_key_env"), "backend=endpoint"),
        ("Adapter", "Loaded with transformers + PEFT on a worker of the gpu queue.",
         ("base_model_path", "adapter_path"), "backend=adapter"),
        ("Target", "What the model is asked to do.", ("target", "protocol_version", "protocol_backend"), None),
        ("Prompt", "", ("prompt_kind", "prompt_version", "max_diff_chars"), "target=json-files"),
        ("Examples", "Scored against the latest human correction of each example, else its teacher label.",
         ("source", "sample", "seed", "language", "export"), None),
        ("Requests", "", ("concurrency", "max_tokens"), None),
    )

    name = forms.CharField(max_length=200, help_text="Shown in the run list and on comparison pages.")
    backend = forms.ChoiceField(choices=EvalRun.Backend.choices, initial=EvalRun.Backend.ENDPOINT, label="System")
    base_url = forms.CharField(max_length=500, required=False, label="Base URL",
                               help_text="Up to /v1, e.g. http://127.0.0.1:11434/v1 for Ollama.")
    model = forms.CharField(max_length=200, required=False, label="Model name",
                            help_text="As the endpoint knows it, e.g. qwen2.5-coder:7b.")
    api_key_env = forms.RegexField(regex=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100, required=False,
                                   label="API key variable",
                                   error_messages={"invalid": "Give the name of an environment variable "
                                                              "(letters, digits, _), not the key itself."},
                                   help_text="Name of the environment variable on the worker that holds the key "
                                             "(e.g. OPENROUTER_API_KEY), never the key. Empty for local servers.")
    base_model_path = forms.CharField(max_length=1000, required=False, label="Base model folder",
                                      help_text="A folder or Hugging Face id already on the worker's disk.")
    adapter_path = forms.CharField(max_length=1000, required=False, label="Adapter folder",
                                   help_text="The folder with adapter_config.json written by a training run.")
    training_run = forms.ModelChoiceField(
        queryset=TrainingRun.objects.filter(state="succeeded"), required=False,
        help_text="Links the eval to the run it tests; for an adapter eval, its adapter and base model are used "
                  "when the folders are left empty.")
    target = forms.ChoiceField(
        choices=EvalRun.Target.choices, initial=EvalRun.Target.JSON_FILES, required=False,
        help_text="json-files: one request per example, answered with JSON commits of files. git-smart-commit: "
                  "the run plays the tool's side of its tool-call loop and reports the protocol and hunk-level "
                  "metrics; every conversation is kept as a transcript.")
    protocol_version = forms.ModelChoiceField(
        queryset=ProtocolVersion.objects.all(), required=False, label="Protocol",
        help_text="A captured protocol (its system prompt and tools); empty means the built-in one "
                  f"({targets.BUILTIN_TEXT}).")
    protocol_backend = forms.ChoiceField(
        choices=EvalRun.ProtocolBackend.choices, initial=EvalRun.ProtocolBackend.V1, required=False,
        label="Simulated backend",
        help_text="Native Ollama compacts the conversation at much smaller sizes and sends no tool_choice.")
    prompt_kind = forms.ChoiceField(choices=EvalRun.PromptKind.choices, label="Prompt",
                                    help_text="The short finetune prompt for trained adapters; the labeling prompt "
                                              "for general models and teachers.")
    prompt_version = forms.ModelChoiceField(queryset=PromptVersion.objects.all(), required=False,
                                            help_text="Labeling prompt only; empty means the default.")
    source = forms.ChoiceField(choices=SOURCES, label="Examples", widget=forms.RadioSelect, initial="sample")
    sample = forms.IntegerField(min_value=1, max_value=100_000, initial=200, required=False, label="Sample size",
                                help_text="Labeled examples drawn at random.")
    seed = forms.IntegerField(min_value=0, initial=0, required=False,
                              help_text="The same seed draws the same examples, so runs compare on equal terms.")
    language = forms.CharField(max_length=40, required=False,
                               help_text="Only examples touching this language, e.g. python. Empty: all.")
    export = forms.ModelChoiceField(queryset=SFTExport.objects.filter(state="succeeded"), required=False,
                                    help_text="Its validation split: examples the model was not trained on.")
    concurrency = forms.IntegerField(min_value=1, max_value=64, initial=4,
                                     help_text="Requests in flight at once (1–64).")
    max_tokens = forms.IntegerField(min_value=16, max_value=65_536, initial=4096, label="Max output tokens",
                                    help_text="An answer cut off here counts as unparsed.")
    max_diff_chars = forms.IntegerField(min_value=1000, required=False, label="Max diff characters",
                                        help_text="Longer diffs are truncated with a marker. Empty: the prompt's "
                                                  "default.")

    # Fields that apply only to one choice of another field (hidden otherwise, by the page's script).
    FIELD_WHEN = {"sample": "source=sample", "seed": "source=sample", "language": "source=sample",
                  "export": "source=export", "prompt_version": "prompt_kind=labeling",
                  "protocol_version": "target=git-smart-commit", "protocol_backend": "target=git-smart-commit"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, when in self.FIELD_WHEN.items():
            self.fields[name].widget.attrs["data-when"] = when
        for name in ("training_run", "export"):
            self.fields[name].label_from_instance = targets.choice_label
        self.fields["protocol_version"].label_from_instance = (
            lambda v: f"{v} · {targets.of_version(v).source_text}")

    def sections(self) -> list[dict]:
        return [{"legend": legend, "help": help_text, "when": when or "", "fields": [self[n] for n in names]}
                for legend, help_text, names, when in self.SECTIONS]

    def clean_base_url(self) -> str:
        url = self.cleaned_data["base_url"].strip()
        return validate_base_url(url) if url else url

    def clean(self):
        data = super().clean()
        # Posts made before these fields existed (scripts, old tabs) mean the file-level target.
        data["target"] = data.get("target") or EvalRun.Target.JSON_FILES
        data["protocol_backend"] = data.get("protocol_backend") or EvalRun.ProtocolBackend.V1
        run = data.get("training_run")
        backend = data.get("backend")
        if run is not None and backend == EvalRun.Backend.ADAPTER:
            data["adapter_path"] = data.get("adapter_path") or str(run.adapter_dir)
            data["base_model_path"] = data.get("base_model_path") or run.base_model
        if backend == EvalRun.Backend.ENDPOINT:
            for field, what in (("base_url", "a base URL"), ("model", "a model name")):
                if not data.get(field) and field not in self.errors:
                    self.add_error(field, f"An endpoint run needs {what}.")
        if backend == EvalRun.Backend.ADAPTER:
            for field, what in (("base_model_path", "the base model folder"), ("adapter_path", "the adapter folder")):
                if not data.get(field):
                    self.add_error(field, f"An adapter run needs {what} (or a training run to take it from).")
        if data.get("source") == "sample" and not data.get("sample") and "sample" not in self.errors:
            self.add_error("sample", "Give the sample size.")
        if data.get("source") == "export" and not data.get("export") and "export" not in self.errors:
            self.add_error("export", "Choose an export.")
        return data


class ComparisonSetForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Shown to reviewers on the scoring page.")
    eval_runs = forms.ModelMultipleChoiceField(
        queryset=EvalRun.objects.filter(state="succeeded"), required=False, widget=forms.CheckboxSelectMultiple,
        label="Eval runs", help_text="Each finished eval run is one system: its outputs are scored. A "
                                    "git-smart-commit run's outputs list hunk ids, a json-files run's whole files.")
    teachers = forms.MultipleChoiceField(choices=(), required=False, widget=forms.CheckboxSelectMultiple,
                                         label="Teacher labels", help_text="Stored teacher labels, by model.")
    human = forms.BooleanField(required=False, label="Original human commits",
                               help_text="The commits the repository really has, as one more system.")
    n_items = forms.IntegerField(min_value=1, max_value=5000, initial=30, label="Items",
                                 help_text="Examples to score, drawn from those every chosen system answered.")
    seed = forms.IntegerField(min_value=0, initial=0,
                              help_text="Draws the items and each reviewer's order of the outputs.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        models = (Label.objects.exclude(source=Label.Source.HUMAN).exclude(model="")
                  .order_by("model").values_list("model", flat=True).distinct())
        self.fields["teachers"].choices = [(m, m) for m in models]
        self.fields["eval_runs"].label_from_instance = targets.choice_label

    def systems(self) -> list[dict]:
        data = self.cleaned_data
        specs = [{"kind": "eval_run", "eval_run": run.pk} for run in data["eval_runs"]]
        specs += [{"kind": "teacher", "model": m} for m in data["teachers"]]
        if data["human"]:
            specs.append({"kind": "human"})
        return specs

    def clean(self):
        data = super().clean()
        if not self.errors and len(self.systems()) < 2:
            raise forms.ValidationError("Choose at least two systems. Tick eval runs, teacher labels or the "
                                        "original human commits.")
        return data
