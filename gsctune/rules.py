"""The commit rules from settings: one config for the label checks, the quality gate and eval."""
from django.conf import settings

from gsctune.domain.checks import CheckConfig


def commit_rules() -> CheckConfig:
    """Thresholds from ``settings.REVIEW_CHECKS`` (the ``CHECK_*`` environment variables)."""
    return CheckConfig(**settings.REVIEW_CHECKS)
