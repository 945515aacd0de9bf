"""Launch forms for eval runs and comparison sets (staff only)."""
from django import forms

from labeling.models import Label, PromptVersion, SFTExport
from training.models import TrainingRun

from .models import EvalRun


class EvalRunForm(forms.Form):
    SOURCES = (("sample", "Seeded sample of labeled examples"), ("export", "An export's validation split"))

    name = forms.CharField(max_length=200)
    backend = forms.ChoiceField(choices=EvalRun.Backend.choices, initial=EvalRun.Backend.ENDPOINT)
    base_url = forms.CharField(max_length=500, required=False, help_text="e.g. http://127.0.0.1:11434/v1")
    model = forms.CharField(max_length=200, required=False)
    api_key_env = forms.RegexField(regex=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100, required=False,
                                   help_text="Name of the environment variable with the key, never the key.")
    base_model_path = forms.CharField(max_length=1000, required=False)
    adapter_path = forms.CharField(max_length=1000, required=False)
    training_run = forms.ModelChoiceField(
        queryset=TrainingRun.objects.filter(state="succeeded"), required=False,
        help_text="Training run the adapter or merged model came from; for an adapter run, its adapter and base "
                  "model are used when the folders are left empty.")
    prompt_kind = forms.ChoiceField(choices=EvalRun.PromptKind.choices)
    prompt_version = forms.ModelChoiceField(queryset=PromptVersion.objects.all(), required=False,
                                            help_text="For the labeling prompt; empty means the default.")
    source = forms.ChoiceField(choices=SOURCES)
    sample = forms.IntegerField(min_value=1, max_value=100_000, initial=200, required=False)
    seed = forms.IntegerField(min_value=0, initial=0, required=False)
    language = forms.CharField(max_length=40, required=False)
    export = forms.ModelChoiceField(queryset=SFTExport.objects.filter(state="succeeded"), required=False)
    concurrency = forms.IntegerField(min_value=1, max_value=64, initial=4)
    max_tokens = forms.IntegerField(min_value=16, max_value=65_536, initial=4096)
    max_diff_chars = forms.IntegerField(min_value=1000, required=False)

    def clean(self):
        data = super().clean()
        run = data.get("training_run")
        if run is not None and data.get("backend") == EvalRun.Backend.ADAPTER:
            data["adapter_path"] = data.get("adapter_path") or str(run.adapter_dir)
            data["base_model_path"] = data.get("base_model_path") or run.base_model
        if data.get("backend") == EvalRun.Backend.ENDPOINT and not (data.get("base_url") and data.get("model")):
            raise forms.ValidationError("An endpoint run needs a base URL and a model name.")
        if data.get("backend") == EvalRun.Backend.ADAPTER and not (data.get("base_model_path") and data.get("adapter_path")):
            raise forms.ValidationError("An adapter run needs the base model folder and the adapter folder.")
        if data.get("source") == "sample" and not data.get("sample"):
            raise forms.ValidationError("Give the sample size.")
        if data.get("source") == "export" and not data.get("export"):
            raise forms.ValidationError("Choose an export.")
        return data


class ComparisonSetForm(forms.Form):
    name = forms.CharField(max_length=200)
    eval_runs = forms.ModelMultipleChoiceField(queryset=EvalRun.objects.filter(state="succeeded"), required=False,
                                               widget=forms.CheckboxSelectMultiple)
    teachers = forms.MultipleChoiceField(choices=(), required=False, widget=forms.CheckboxSelectMultiple,
                                         help_text="Teacher labels by model.")
    human = forms.BooleanField(required=False, label="Original human commits")
    n_items = forms.IntegerField(min_value=1, max_value=5000, initial=30)
    seed = forms.IntegerField(min_value=0, initial=0)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        models = (Label.objects.exclude(source=Label.Source.HUMAN).exclude(model="")
                  .order_by("model").values_list("model", flat=True).distinct())
        self.fields["teachers"].choices = [(m, m) for m in models]

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
            raise forms.ValidationError("Choose at least two systems.")
        return data
