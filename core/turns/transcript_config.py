"""Frozen, validated configuration of the partial transcript that feeds the text end-of-utterance signal
(`core.turns.text_eou`) while the user speaks."""

from __future__ import annotations

from dataclasses import dataclass

from core.options import check, opt

PARTIAL_SOURCES = ("auto", "sphinx", "off")


@dataclass(frozen=True)
class TranscriptConfig:
    partial: str = opt("auto", "partial transcript for the text end-of-turn signal: auto (the transcript listener's "
                               "when it runs, else pocketsphinx), sphinx (pocketsphinx always), off (no text signal)",
                       choices=PARTIAL_SOURCES)

    def __post_init__(self) -> None:
        check(self.partial in PARTIAL_SOURCES, f"partial must be one of {', '.join(PARTIAL_SOURCES)}, got "
                                               f"{self.partial!r}")
