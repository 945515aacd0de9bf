"""Which student target an object serves, and with which protocol: one definition for every page.

gsctune trains for two targets: ``git-smart-commit`` (hunk ids, the tool's tool-call loop, rendered
with a protocol version) and ``json-files`` (one file-level JSON answer). Every model a page shows
(prompt versions, labeling runs, labels, review items, exports, training runs, eval runs,
predictions, comparison systems) has a ``serves`` property that returns a :class:`Served` built
here, and ``templates/_target.html`` renders it, so "which target is this" is said one way.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from django.urls import reverse

from gsctune.domain.protocol import BUILTIN, BUILTIN_SYSTEM_PROMPT
from gsctune.domain.tool_export import TARGET as TOOL

FILES = "json-files"
HUNKS = "hunks"  # the granularity of prompt versions and labels that serve the tool target
HASH_CHARS = 12
BUILTIN_TEXT = "built-in — not what the tool sends"
CHOSEN_TEXT = "differs from what the tool sends"

# What each target means: the badge's tooltip.
MEANING = {
    TOOL: "git-smart-commit: the tool's own loop: hunk ids (path::N), one emit_commit call per commit "
          "with the tool's reply after each, then finalize_commits; rendered with a protocol version.",
    FILES: "json-files: one JSON answer per example listing whole files per commit (the seed plan's format).",
}


@dataclass(frozen=True)
class ProtocolShown:
    """A protocol as pages name it: a stored version (with its page) or gsctune's built-in spec;
    ``chosen`` names the system prompt an export trained under instead of the protocol's."""

    title: str
    url: str
    content_hash: str
    captured: bool
    chosen: str = ""  # "prompt version #7" or "own text 3fa2…"; "": the protocol's own system prompt
    chosen_url: str = ""

    @property
    def short_hash(self) -> str:
        return self.content_hash[:HASH_CHARS]

    @property
    def source_text(self) -> str:
        return "captured" if self.captured else BUILTIN_TEXT


@dataclass(frozen=True)
class Served:
    """The target of one object, its protocol where it has one, and why it has none."""

    name: str  # TOOL or FILES
    detail: str = ""  # "hunk ids", "file level", the simulated backend …
    protocol: ProtocolShown | None = None
    role: str = ""  # how the object relates to its protocol ("rendered with", "system prompt of" …)
    no_protocol: str = ""  # tool target without a protocol: why

    @property
    def is_tool(self) -> bool:
        return self.name == TOOL

    @property
    def meaning(self) -> str:
        return MEANING.get(self.name, "")

    @property
    def text(self) -> str:
        """One line of plain text, for choice labels: "git-smart-commit · protocol #3 3fa2… captured"."""
        parts = [self.name]
        if self.detail:
            parts.append(self.detail)
        if self.protocol:
            parts.append(f"{self.protocol.title} {self.protocol.short_hash} {self.protocol.source_text}")
            if self.protocol.chosen:
                parts.append(f"system prompt: {self.protocol.chosen} ({CHOSEN_TEXT})")
        elif self.no_protocol:
            parts.append(self.no_protocol)
        return " · ".join(parts)


def of_version(version) -> ProtocolShown:
    """A stored ProtocolVersion (captured, or a built-in one saved as a row)."""
    return ProtocolShown(title=f"protocol #{version.pk}", url=version.get_absolute_url(),
                         content_hash=version.content_hash, captured=version.source == "captured")


def builtin() -> ProtocolShown:
    """gsctune's built-in spec: no row of its own, so it links to the protocol list that explains it."""
    return ProtocolShown(title="built-in protocol", url=reverse("protocol-list"),
                         content_hash=BUILTIN.content_hash, captured=False)


def from_manifest(entry: dict) -> ProtocolShown:
    """The protocol an export's manifest names; the version's own hash where it was a stored one,
    and the system prompt chosen instead of its own, where the entry says so."""
    from labeling.models import ProtocolVersion

    version = ProtocolVersion.objects.filter(pk=entry["id"]).first() if entry.get("id") else None
    if version is not None:
        shown = of_version(version)
    elif entry.get("id"):  # the version was deleted after the export
        shown = ProtocolShown(title=f"protocol #{entry['id']} (deleted)", url="",
                              content_hash=entry.get("version_hash") or entry.get("content_hash", ""),
                              captured=bool(entry.get("captured")))
    else:
        shown = ProtocolShown(title="built-in protocol", url=reverse("protocol-list"),
                              content_hash=entry.get("content_hash", ""), captured=bool(entry.get("captured")))
    if entry.get("system_prompt") != "chosen":
        return shown
    return with_chosen(shown, entry.get("system_prompt_from"), entry.get("system_prompt_sha256", ""))


def with_chosen(shown: ProtocolShown, prompt_version, text_sha256: str = "") -> ProtocolShown:
    """The protocol with the system prompt an export chose instead: a prompt version's (linked) or own text."""
    if prompt_version:
        return replace(shown, chosen=f"prompt version #{prompt_version}",
                       chosen_url=reverse("prompt-detail", args=[int(prompt_version)]))
    return replace(shown, chosen=f"own text {text_sha256[:HASH_CHARS]}".strip())


def of_prompt(prompt) -> ProtocolShown | None:
    """The protocol a hunk-level prompt was made from: its linked version (select it with the prompt:
    no query here), the built-in spec for the built-in system prompt, or None (its own)."""
    if prompt.protocol_version_id:
        return of_version(prompt.protocol_version)
    return builtin() if prompt.system_prompt == BUILTIN_SYSTEM_PROMPT else None


def for_prompt(granularity: str, prompt) -> Served:
    """A prompt version's (and its runs' and labels') target: hunk ids serve the tool, files json-files.
    ``prompt`` None: no prompt recorded (an imported or recorded label)."""
    if granularity != HUNKS:
        return Served(FILES, "file level")
    if prompt is None:
        return Served(TOOL, "hunk ids", no_protocol="no prompt recorded")
    protocol = of_prompt(prompt)
    return Served(TOOL, "hunk ids", protocol=protocol, role="system prompt of",
                  no_protocol="" if protocol else "own system prompt")


def for_export(options: dict, summary: dict) -> Served:
    """An export's target: the manifest's protocol once it ran, else the one it is pinned to."""
    from labeling.export.snapshot import BUILTIN_PROTOCOL

    name = options.get("target") or FILES
    if name != TOOL:
        return Served(FILES)
    if summary.get("protocol"):
        return Served(TOOL, protocol=from_manifest(summary["protocol"]), role="rendered with")
    choice = str(options.get("protocol_version") or "")
    if choice == BUILTIN_PROTOCOL:
        protocol = builtin()
    elif choice.isdigit():
        protocol = from_manifest({"id": int(choice)})
    else:
        return Served(TOOL, no_protocol="latest captured protocol, when it runs")
    chosen = str(options.get("system_prompt_from") or "")  # not run yet: what its manifest will say
    if chosen.isdigit():
        protocol = with_chosen(protocol, int(chosen))
    elif chosen:
        text = options.get("system_prompt_text") or ""
        protocol = with_chosen(protocol, None, hashlib.sha256(text.encode("utf-8")).hexdigest())
    return Served(TOOL, protocol=protocol, role="rendered with")


def for_eval(target: str, version, backend_text: str) -> Served:
    """An eval run's target: a tool-target run plays its protocol version, or the built-in one."""
    if target != TOOL:
        return Served(FILES)
    return Served(TOOL, f"backend {backend_text}", protocol=of_version(version) if version else builtin(), role="plays")


def default() -> Served:
    """What a new export targets now, and the protocol it would use (for the dashboard)."""
    from labeling.export.services import default_target
    from labeling.models import ProtocolVersion

    if default_target() != TOOL:
        return Served(FILES)
    latest = ProtocolVersion.objects.filter(source="captured").first()
    return Served(TOOL, protocol=of_version(latest), role="latest captured")


def choice_label(obj) -> str:
    """A form choice's label that says what the object serves: "Export 3: main · git-smart-commit · …"."""
    served = obj.serves
    return f"{obj} · {served.text}" if served else str(obj)
