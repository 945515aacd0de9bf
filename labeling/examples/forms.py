from django import forms


class ExampleFilterForm(forms.Form):
    SIZE_CHOICES = [
        ("", "any size"),
        ("s", "small (< 2k chars)"),
        ("m", "medium (2k–10k)"),
        ("l", "large (10k–30k)"),
        ("xl", "huge (> 30k)"),
    ]
    SIZE_RANGES = {"s": (0, 2000), "m": (2000, 10000), "l": (10000, 30000), "xl": (30000, None)}

    q = forms.CharField(required=False, label="Search", widget=forms.TextInput(attrs={"placeholder": "key, file or commit subject"}))
    # Free text shown as a menu: a value not (yet) in the cached menu still filters.
    repo = forms.CharField(required=False, label="Repository", widget=forms.Select)
    language = forms.CharField(required=False, widget=forms.Select)
    n_commits = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Commits",
        choices=[("", "any")] + [(n, str(n)) for n in range(1, 6)],
    )
    size = forms.ChoiceField(required=False, choices=SIZE_CHOICES, label="Diff size")
    labeled = forms.ChoiceField(required=False, choices=[("", "labeled or not"), ("yes", "labeled"), ("no", "unlabeled")])

    def __init__(self, *args, repos=(), languages=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["repo"].widget.choices = [("", "all repositories")] + [(r, r.removeprefix("github.com/")) for r in repos]
        self.fields["language"].widget.choices = [("", "all languages")] + [(lang, lang) for lang in languages]


class ImportUploadForm(forms.Form):
    file = forms.FileField(help_text="JSONL in the harvested or labeled format (one object per line).")


