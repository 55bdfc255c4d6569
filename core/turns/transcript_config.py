"""Frozen, validated configuration of the partial transcript that feeds the text end-of-utterance signal
(`core.turns.text_eou`) while the user speaks."""

from __future__ import annotations

from dataclasses import dataclass

from core.options import check, opt

PARTIAL_SOURCES = ("listener", "auto", "sphinx", "off")


@dataclass(frozen=True)
class TranscriptConfig:
    # "listener" by default: on the turn corpus pocketsphinx's text did not speed up the decision at the same
    # share of paused sentences kept (docs/turn_taking.md), so the fallback is opt-in
    partial: str = opt("listener", "partial transcript for the text end-of-turn signal: listener (the transcript "
                                   "listener's, when it runs), auto (the listener's, else pocketsphinx), sphinx "
                                   "(pocketsphinx always), off (no text signal)",
                       choices=PARTIAL_SOURCES)

    def __post_init__(self) -> None:
        check(self.partial in PARTIAL_SOURCES, f"partial must be one of {', '.join(PARTIAL_SOURCES)}, got "
                                               f"{self.partial!r}")
