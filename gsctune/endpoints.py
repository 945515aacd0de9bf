"""The one check of an OpenAI-compatible endpoint's base URL (teachers, labeling, evaluation)."""
from urllib.parse import urlsplit

from django import forms

BASE_URL_EXAMPLE = "https://openrouter.ai/api/v1"


def validate_base_url(value: str) -> str:
    """An http(s) URL with a host; the path stops before /chat/completions."""
    value = value.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise forms.ValidationError(
            f"Enter an http:// or https:// URL such as {BASE_URL_EXAMPLE} (got {value!r}).")
    if parts.path.rstrip("/").endswith("/chat/completions"):
        raise forms.ValidationError("Give the API root without /chat/completions, for example "
                                    f"{value.rstrip('/').removesuffix('/chat/completions')}.")
    return value.rstrip("/")
