"""The form that starts a capture from the page."""
from django import forms

from gsctune.jobs import ACTIVE_STATES

from ..models import CaptureJob


class CaptureJobForm(forms.ModelForm):
    class Meta:
        model = CaptureJob
        fields = ["port", "model_name", "tool_commit", "timeout_s", "make_scratch"]

    def clean_port(self):
        port = self.cleaned_data["port"]
        busy = CaptureJob.objects.filter(port=port, state__in=ACTIVE_STATES).first()
        if busy:
            raise forms.ValidationError(f"{busy} is still waiting on this port; cancel it or choose another port.")
        return port
