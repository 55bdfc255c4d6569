"""Cancelling a voice stream lands within one flow-matching (Euler) step, on both backends, and a cancelled
reply job stops its vocoder there: the estimator call in flight finishes, no other step and no HiFT call runs."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from core.audio.playout import PlayoutBuffer
from core.engine.events import ReplyAudio
from core.engine.reply_job import ReplyJob, ReplyRequest
from core.lm.events import SpeechUnits
from core.voice.chunk_schedule import ChunkSchedule
from core.voice.vocoder import Vocoder
from models.glm_constants import FLOW_STEPS
from testing.collector import EventCollector
from tests.engine_fakes import FakeConversation, FakeRunner
from tests.voice.helpers import decoder, units

SCHEDULE = ChunkSchedule()  # the first flow call needs its first chunk of units


class Probe:
    """Wraps the decoder's estimator (torch module or ONNX session) and HiFT: counts calls; `hold_at` makes the
    n-th estimator call wait (entered / release) so a test can cancel while a step is in flight."""

    def __init__(self, dec: Vocoder, hold_at: int | None = None) -> None:
        self.inner = dec.estimator or dec.flow.decoder.estimator
        self.calls = 0
        self.hift_calls = 0
        self.hold_at = hold_at
        self.entered, self.release = threading.Event(), threading.Event()
        self.on_call = None  # called with the call number, inside the step
        clone = object.__new__(Vocoder)
        clone.__dict__.update(dec.__dict__)
        clone.estimator = self
        run_hift = dec.run_hift

        def counted_hift(*args, **kw):
            self.hift_calls += 1
            return run_hift(*args, **kw)

        clone.run_hift = counted_hift
        self.decoder = clone

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.on_call is not None:
            self.on_call(self.calls)
        if self.calls == self.hold_at:
            self.entered.set()
            assert self.release.wait(30)
        return self.inner(*tensors)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
@pytest.mark.parametrize("step", [1, 4, FLOW_STEPS])
def test_cancel_during_a_flow_step_stops_before_the_next(backend, step):
    probe = Probe(decoder(backend))
    stream = probe.decoder.open_stream(SCHEDULE, torch.Generator().manual_seed(0))
    probe.on_call = lambda n: stream.cancel() if n == step else None
    assert stream.push(units(SCHEDULE.chunk_units[0] * 2)) == []
    assert probe.calls == step and probe.hift_calls == 0  # the step in flight finished; nothing after it
    assert stream.push(units(8)) == [] and stream.flush() == [] and probe.calls == step


def test_a_stream_runs_every_step_when_not_cancelled():
    probe = Probe(decoder("torch"))  # the control: the probe sees the whole solver
    stream = probe.decoder.open_stream(SCHEDULE, torch.Generator().manual_seed(0))
    chunks = stream.push(units(SCHEDULE.chunk_units[0]))
    assert chunks and probe.calls == FLOW_STEPS and probe.hift_calls == 1


def test_cancel_from_another_thread_mid_step():
    probe = Probe(decoder("torch"), hold_at=3)
    stream = probe.decoder.open_stream(SCHEDULE, torch.Generator().manual_seed(0))
    out: list = []
    t = threading.Thread(target=lambda: out.append(stream.push(units(SCHEDULE.chunk_units[0]))))
    t.start()
    assert probe.entered.wait(30)
    stream.cancel()
    probe.release.set()
    t.join(10)
    assert not t.is_alive() and out == [[]]
    assert probe.calls == 3 and probe.hift_calls == 0


def test_cancelled_reply_job_stops_its_vocoder_within_one_flow_step():
    """ReplyJob.cancel() reaches the voice stream: the vocoder thread, blocked inside an Euler step when the
    reply is cancelled, runs no further step, plays nothing, and the job ends at once."""
    probe = Probe(decoder("torch"), hold_at=2)
    n = SCHEDULE.chunk_units[0]
    runner = FakeRunner([SpeechUnits(tuple(units(n)))], step_s=0.0)
    events = EventCollector()
    job = ReplyJob(ReplyRequest(1, runner, FakeConversation(), probe.decoder, PlayoutBuffer(0),
                                Vocoder.sample_rate_hz, events))
    job.start()
    assert probe.entered.wait(30)  # the vocoder thread is inside the 2nd Euler step of the first chunk
    job.cancel()
    cancelled_t = time.monotonic()
    probe.release.set()
    assert job.join(10)
    print(f"vocoder stopped {1000 * (time.monotonic() - cancelled_t):.0f} ms after the cancel (one step in flight)")
    assert probe.calls == 2 and probe.hift_calls == 0
    assert not events.of(ReplyAudio)
    assert job.outcome().generated_samples == 0
