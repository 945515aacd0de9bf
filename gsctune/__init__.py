"""gsctune: distil a teacher model's commit labels into a LoRA-finetuned commit model."""
from .celery import app as celery_app

__all__ = ["celery_app"]
