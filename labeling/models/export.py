"""SFT export snapshots."""
from pathlib import Path

from django.db import models
from django.urls import reverse

from gsctune import targets
from gsctune.jobs import Job


class SFTExport(Job):
    """A training-data snapshot: train/val/labeled JSONL and a manifest in ``folder``.

    ``options`` are the :class:`labeling.export.ExportOptions`; the same options on
    the same data give byte-identical files (their sha256 are in ``manifest``).
    """

    name = models.CharField(max_length=200, blank=True)
    options = models.JSONField(default=dict)
    folder = models.CharField(max_length=1000, blank=True, help_text="Snapshot folder (set when it runs).")
    # The manifest without its per-record provenance (that stays in manifest.json).
    summary = models.JSONField(default=dict, blank=True)
    train_rows = models.PositiveIntegerField(default=0)
    val_rows = models.PositiveIntegerField(default=0)
    manifest_sha256 = models.CharField(max_length=64, blank=True)

    status_template = "labeling/export/_status.html"

    def __str__(self) -> str:
        return f"Export {self.pk}{': ' + self.name if self.name else ''}"

    def get_absolute_url(self) -> str:
        return reverse("export-detail", args=[self.pk])

    @property
    def serves(self) -> targets.Served:
        """The options' target; the protocol the manifest names once it ran, else the one it is pinned to."""
        return targets.for_export(self.options, self.summary)

    def file_path(self, name: str) -> Path:
        """Path of one output file (train.jsonl, val.jsonl, labeled.jsonl, manifest.json)."""
        return Path(self.folder) / name
