"""Forms for teachers, prompt versions and labeling runs."""
from django import forms

from .models import LabelingRun, PromptVersion, Teacher


class TeacherForm(forms.ModelForm):
    class Meta:
        model = Teacher
        fields = ["name", "is_baseline", "base_url", "model", "api_key_env", "temperature", "max_output_tokens",
                  "reasoning_effort", "request_timeout", "max_concurrency", "price_input_per_million",
                  "price_output_per_million"]


class PromptVersionForm(forms.ModelForm):
    """Always creates a new version: existing ones are immutable once used."""

    class Meta:
        model = PromptVersion
        fields = ["name", "system_prompt", "output_format", "sample_output", "notes"]
        widgets = {f: forms.Textarea(attrs={"rows": r, "class": "mono"})
                   for f, r in (("system_prompt", 18), ("output_format", 6), ("sample_output", 6), ("notes", 2))}


class LabelingRunForm(forms.ModelForm):
    example_list_text = forms.CharField(
        required=False, label="Examples (ids or keys, one per line)", widget=forms.Textarea(attrs={"rows": 3}))

    class Meta:
        model = LabelingRun
        fields = ["name", "teacher", "prompt_version", "selection", "sample_size", "selection_seed", "filter_repo",
                  "filter_language", "filter_max_diff_chars", "limit", "noise_probability", "noise_seed",
                  "max_diff_chars", "concurrency"]
        widgets = {"selection": forms.RadioSelect}

    def clean(self):
        data = super().clean()
        selection = data.get("selection")
        items = [line.strip() for line in (data.get("example_list_text") or "").splitlines() if line.strip()]
        if selection == LabelingRun.Selection.SAMPLE and not data.get("sample_size"):
            self.add_error("sample_size", "A sample needs a size.")
        if selection == LabelingRun.Selection.LIST and not items:
            self.add_error("example_list_text", "List at least one example id or key.")
        data["example_list"] = items
        return data
