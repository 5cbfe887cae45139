"""Markers for text that people read: the pages translate it (api/i18n.py); services only mark it.

A service message marked `N_("...")` is a catalogue entry (`pybabel extract` finds it); the English text
stays the value, so the API's JSON and the logs keep it as it is.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


def N_(message: str) -> str:  # noqa: N802 - the gettext marker name the extractor looks for
    """Mark a message for the catalogue; it is translated where it is shown."""
    return message


def NC_(context: str, message: str) -> str:  # noqa: N802 - the gettext marker name the extractor looks for
    """Mark a vocabulary word (`context` is its vocabulary) for the catalogue."""
    return message


class Note(BaseModel):
    """A sentence for people: an English catalogue message with %(name)s placeholders and their values."""

    text: str
    args: dict[str, str | int] = Field(default_factory=dict)

    def english(self) -> str:
        """The sentence in English (the API's JSON and the logs)."""
        return self.text % self.args if self.args else self.text


def note(text: str, **args: str | int) -> Note:
    """A marked sentence (`text` must be a literal marked with N_ where it is written)."""
    return Note(text=text, args=args)
