"""The smallest conversation history the engine accepts (core.seams.History): a list of (role, content). For
benchmarks and rigs whose runner does not read the history."""

from __future__ import annotations

import numpy as np


class ListHistory:
    def __init__(self) -> None:
        self.turns: list[tuple[str, object]] = []

    def add_user_audio(self, samples_16k: np.ndarray) -> object:
        self.turns.append(("user", samples_16k))
        return self.turns[-1]

    def add_user_text(self, text: str) -> object:
        self.turns.append(("user", text))
        return self.turns[-1]

    def user_audio_turn(self, samples_16k: np.ndarray) -> object:
        return ("user", samples_16k)

    def append(self, turn: object) -> object:
        self.turns.append(turn)
        return turn

    def extended(self, turn: object) -> ListHistory:
        other = ListHistory()
        other.turns = [*self.turns, turn]
        return other

    def add_assistant(self, text: str) -> object:
        self.turns.append(("assistant", text))
        return self.turns[-1]
