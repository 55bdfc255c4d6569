"""The engine's control thread takes every wait off the capture path: while a reply that is slow to honour its
cancel is being joined, the capture thread goes on delivering frames and mic levels; and a reply that outlives
its join timeout keeps the model to itself until it returns (the next one waits and the wait is reported).

Fake audio backend (real callbacks, real time), an energy VAD (deterministic), a runner whose stream takes
`cancel_delay_s` to notice a cancel (a model step that does not look at the stop token)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from core.audio.levels import MicLevel
from core.audio.playout import PlayoutBuffer
from core.engine.config import AudioConfig, EngineConfig
from core.engine.control import ControlThread
from core.engine.engine import Engine
from core.engine.events import BargeIn, EngineError, EngineState, ErrorKind, ReplyEnded, StateChanged
from core.lm.events import SpeechUnits, StopReason, TextDelta, TurnEnd
from core.turns.config import VadConfig
from testing.collector import EventCollector
from tests.engine_fakes import FakeAudio, FakeConversation, FakeDecoder


class EnergyVad:
    """P(speech) = 1 above -40 dBFS RMS, else 0."""

    def prob(self, frame: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.square(frame))) > 0.01)

    def reset(self) -> None:
        pass


class SlowCancelStream:
    def __init__(self, runner: SlowCancelRunner, steps: int) -> None:
        self._runner, self._steps = runner, steps
        self._cancel = threading.Event()
        self.started_t = time.monotonic()
        self.cancelled_t: float | None = None
        self.ended_t: float | None = None

    def cancel(self) -> None:
        self.cancelled_t = self.cancelled_t or time.monotonic()
        self._cancel.set()

    def __iter__(self):
        for i in range(self._steps):
            if self._cancel.wait(self._runner.step_s):
                time.sleep(self._runner.cancel_delay_s)  # the step in flight does not look at the stop token
                break
            yield TextDelta(f"w{i} ", (i,)) if i % 2 == 0 else SpeechUnits(tuple(range(5)))
        self.ended_t = time.monotonic()
        reason = StopReason.CANCELLED if self._cancel.is_set() else StopReason.EOS
        yield TurnEnd(reason, "", 0, 0)


class SlowCancelRunner:
    """The first reply is long (it gets interrupted), later ones short (5 units per speech step, 0.4 s)."""

    def __init__(self, cancel_delay_s: float, steps: tuple[int, int] = (400, 6), step_s: float = 0.02) -> None:
        self.cancel_delay_s, self.steps, self.step_s = cancel_delay_s, steps, step_s
        self.streams: list[SlowCancelStream] = []

    def reply(self, conversation, sampling=None) -> SlowCancelStream:
        s = SlowCancelStream(self, self.steps[min(len(self.streams), 1)])
        self.streams.append(s)
        return s


def _tone(rate_hz: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    return (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)


def test_capture_keeps_delivering_frames_while_a_slow_cancel_is_joined():
    runner = SlowCancelRunner(cancel_delay_s=2.5)
    audio = FakeAudio(noise_rms=0.001)
    events = EventCollector()
    levels: list[float] = []  # arrival time of every MicLevel at the sink

    def sink(event: object) -> None:
        if isinstance(event, MicLevel):
            levels.append(time.monotonic())
        events(event)

    cfg = EngineConfig(vad=VadConfig(end_silence_ms=300, speculate_after_ms=None), duplex="headphones", barge_in_ms=200,
                       audio=AudioConfig(prebuffer_ms=60), join_timeout_s=3.0)
    eng = Engine(runner, FakeDecoder(), config=cfg, sink=sink, audio=audio, conversation=FakeConversation(),
                 vad=EnergyVad())
    with eng:
        audio.mic.inject(_tone(audio.in_rate_hz, 0.8))
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING, 10)
        audio.mic.inject(_tone(audio.in_rate_hz, 0.8))  # speaks over the reply: barge-in, then a new turn
        events.wait_for(lambda e: isinstance(e, BargeIn), 5)
        end = events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == 1, 10)
        events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == 2, 30)  # the new turn is answered
    first = runner.streams[0]
    assert end.interrupted and first.ended_t - first.cancelled_t >= 2.4  # the slow cancel really happened
    window = [t for t in levels if first.cancelled_t <= t <= first.ended_t]
    gaps = np.diff([first.cancelled_t, *window, first.ended_t])
    print(f"mic levels during the {first.ended_t - first.cancelled_t:.2f} s cancel: {len(window)}, "
          f"longest gap {1000 * gaps.max():.0f} ms")
    # levels every level_interval_ms (100): the capture thread never waited for the join (the engine before the
    # control thread: a 1.6 s gap, from the turn's dispatch to the end of the cancelled reply)
    assert gaps.max() < 0.6
    assert len(runner.streams) == 2 and runner.streams[1].started_t >= first.ended_t


def test_a_reply_that_outlives_its_join_keeps_the_model_until_it_returns():
    runner = SlowCancelRunner(cancel_delay_s=1.0)
    events = EventCollector()
    cfg = EngineConfig(vad=VadConfig(speculate_after_ms=None), audio=AudioConfig(prebuffer_ms=60),
                       join_timeout_s=0.2)
    eng = Engine(runner, FakeDecoder(), config=cfg, sink=events, audio=FakeAudio(), conversation=FakeConversation(),
                 vad=EnergyVad())
    with eng:
        eng.submit_turn(_tone(16000, 0.5))
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING, 10)
        t0 = time.monotonic()
        tid = eng.submit_turn(_tone(16000, 0.5))  # cancels reply 1, which ignores it for 1 s
        waited_s = time.monotonic() - t0
        err = events.wait_for(lambda e: isinstance(e, EngineError) and e.kind is ErrorKind.INTERNAL, 5)
        events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == tid, 30)
    first, second = runner.streams
    assert waited_s < 0.2 + 0.5  # the control thread gave up waiting at the join timeout ...
    assert "did not stop" in err.message and not err.fatal  # ... and said so
    assert second.started_t >= first.ended_t  # ... but the new reply reached the model only after the old one


def test_control_thread_runs_in_order_returns_results_and_refuses_after_finish():
    ctl = ControlThread("t-control")
    ctl.start()
    seen: list = []
    for i in range(5):
        ctl.post(seen.append, i)
    ctl.post(lambda: 1 / 0)  # logged; the thread goes on
    assert ctl.call(lambda: list(seen)) == [0, 1, 2, 3, 4]
    with pytest.raises(ZeroDivisionError):
        ctl.call(lambda: 1 / 0)
    ctl.call(ctl.finish)
    assert ctl.join(5)
    with pytest.raises(RuntimeError, match="not running"):
        ctl.call(lambda: None)


def test_playout_listener_hears_first_play_and_done():
    heard: list[tuple[bool, bool]] = []
    buf = PlayoutBuffer(0)
    buf.set_listener(lambda: heard.append((buf.wait_first_play(0), buf.wait_done(0))))
    buf.begin(1)
    buf.write(1, np.ones(100, np.float32))
    buf.end(1)
    out = np.zeros(64, np.float32)
    buf.fill(out)  # first sample played
    buf.fill(out)  # the rest, then done
    buf.fill(out)  # silence: nothing new to hear
    assert heard == [(True, False), (True, True)]
    buf.begin(2)
    buf.stop()  # barge-in: done at once
    assert heard[-1] == (False, True) and len(heard) == 3
