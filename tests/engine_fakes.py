"""Test doubles for the engine: a runner and a conversation implementing docs/contracts.md with controllable
timing, failures and cancel. The sounddevice-like backend, the sine vocoder and the event collector are package
modules (testing.fake_audio, testing.sine_vocoder, testing.collector), re-exported here under the tests' names."""

from __future__ import annotations

import threading
import time

import numpy as np

from core.lm.events import SpeechUnits, StopReason, TextDelta, TurnEnd
from models.glm_constants import SAMPLE_RATE_HZ as DECODER_RATE_HZ
from testing.collector import EventCollector as Collector
from testing.fake_audio import FakeAudio, FakeMic, FakePortAudioError, FakeSpeaker, FakeStream
from testing.sine_vocoder import SAMPLES_PER_UNIT, SineDecoder, SineStream

__all__ = [
    "DECODER_RATE_HZ", "SAMPLES_PER_UNIT", "Collector", "FakeAudio", "FakeConversation", "FakeDecoder", "FakeMic",
    "FakePortAudioError", "FakeReplyStream", "FakeRunner", "FakeSpeaker", "FakeStream", "FakeVocoderStream",
    "default_script",
]

FakeVocoderStream = SineStream


class FakeDecoder(SineDecoder):
    """The sine decoder, and from push number `fail_at_push + 1` on, a vocoder that raises."""

    def __init__(self, push_delay_s: float = 0.0, fail_at_push: int | None = None) -> None:
        super().__init__(push_delay_s)
        self.fail_at_push = fail_at_push

    def before_push(self, n: int) -> None:
        if self.fail_at_push is not None and n > self.fail_at_push:
            raise RuntimeError("fake vocoder exploded")


def default_script(words: int = 6, units_per_word: int = 5) -> list:
    """Interleaved reply: a word of text, then its units, repeated."""
    script: list = []
    for i in range(words):
        script.append(TextDelta(f"word{i} ", (100 + i,)))
        script.append(SpeechUnits(tuple(range(i * units_per_word, (i + 1) * units_per_word))))
    return script


class FakeReplyStream:
    def __init__(self, script: list, step_s: float, fail_at: int | None, on_step=None) -> None:
        self._script, self._step_s, self._fail_at, self._on_step = script, step_s, fail_at, on_step
        self._cancel = threading.Event()
        self.cancelled_t: float | None = None
        self.ended_t: float | None = None

    def cancel(self) -> None:
        if self.cancelled_t is None:
            self.cancelled_t = time.monotonic()
        self._cancel.set()

    def __iter__(self):
        text, n_units, n_tok = "", 0, 0
        for i, ev in enumerate(self._script):
            if self._on_step is not None:
                self._on_step()  # a decode step starts
            if self._cancel.wait(self._step_s):
                break
            if i == self._fail_at:
                raise RuntimeError("fake model exploded")
            if isinstance(ev, TextDelta):
                text += ev.text
                n_tok += len(ev.token_ids)
            else:
                n_units += len(ev.units)
            yield ev
        self.ended_t = time.monotonic()
        reason = StopReason.CANCELLED if self._cancel.is_set() else StopReason.EOS
        yield TurnEnd(reason, text, n_tok, n_units)


class FakeRunner:
    def __init__(self, script: list | None = None, step_s: float = 0.01, fail_at: int | None = None) -> None:
        self.script = script if script is not None else default_script()
        self.step_s, self.fail_at = step_s, fail_at
        self.on_step = None  # called before each decode step (tests watch concurrency with it)
        self.streams: list[FakeReplyStream] = []
        self.history_at_call: list[list] = []

    def reply(self, conversation, sampling=None) -> FakeReplyStream:
        self.history_at_call.append(list(conversation.turns))
        s = FakeReplyStream(self.script, self.step_s, self.fail_at, self.on_step)
        self.streams.append(s)
        return s


class FakeConversation:
    def __init__(self) -> None:
        self.turns: list[tuple[str, object]] = []

    def add_user_audio(self, samples: np.ndarray) -> tuple[str, object]:
        turn = self.user_audio_turn(samples)
        self.turns.append(turn)
        return turn

    @staticmethod
    def user_audio_turn(samples: np.ndarray) -> tuple[str, object]:
        return ("user", samples)

    def append(self, turn: tuple[str, object]) -> tuple[str, object]:
        self.turns.append(turn)
        return turn

    def extended(self, turn: tuple[str, object]) -> FakeConversation:
        conv = FakeConversation()
        conv.turns = [*self.turns, turn]
        return conv

    def add_assistant(self, text: str) -> None:
        self.turns.append(("assistant", text))
