"""Reliability findings in the engine (issue 19): turn ids across engines (3), playback that never drains (6),
quitting during a reply (15), torch threads inside reply workers (16). Stalled streams: tests/app/test_faults.py."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.engine.config import AudioConfig, EngineConfig
from core.engine.engine import Engine
from core.engine.events import EngineState, ReplyEnded, StateChanged
from core.turns.config import VadConfig
from tests.engine_fakes import Collector, FakeAudio, FakeConversation, FakeDecoder, FakeRunner, default_script

REPO = Path(__file__).resolve().parents[2]
CLIP = np.full(16000, 0.1, np.float32)


def make_engine(runner=None, audio=None, first_turn_id=1, **kw):
    audio_kw = {k: kw.pop(k) for k in ("stall_timeout_s",) if k in kw}
    cfg = EngineConfig(vad=VadConfig(end_silence_ms=500), audio=AudioConfig(prebuffer_ms=60, **audio_kw), **kw)
    events = Collector()
    conv = FakeConversation()
    audio = audio or FakeAudio()
    eng = Engine(runner or FakeRunner(), FakeDecoder(), config=cfg, sink=events, audio=audio, conversation=conv,
                 first_turn_id=first_turn_id)
    return eng, events, audio, conv


@pytest.fixture
def engines():
    made: list[Engine] = []
    yield made
    for eng in made:
        eng.stop()


# -- finding 3: a replacement engine continues the turn numbering ------------------------------------------------
def test_first_turn_id_continues_the_numbering(engines):
    eng, events, _, _ = make_engine(first_turn_id=4)
    engines.append(eng)
    eng.start()
    assert eng.submit_turn(CLIP) == 4 and eng.last_turn_id == 4
    events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == 4, 20)


# -- finding 6: stalled streams (a stalled stream itself: tests/app/test_faults.py) -----------------------------------
def test_playback_that_never_drains_ends_the_reply_after_the_drain_timeout(engines):
    eng, events, audio, conv = make_engine(FakeRunner(default_script(words=3)), stall_timeout_s=60.0,
                                           drain_timeout_s=0.5)
    engines.append(eng)
    eng.start()
    eng.submit_turn(CLIP)
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING, 20)
    audio.stream("output").stalled = True  # no callbacks: the buffered audio never plays out
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 15)
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.reason == "reply_done", 5)
    assert eng.state is EngineState.LISTENING and conv.turns[-1][0] == "assistant"
    assert end.played_s < end.generated_s


def test_a_reply_computed_far_faster_than_it_plays_is_played_to_its_end(engines):
    # 12 words = 4.8 s of audio computed in ~0.1 s; the drain check must wait for progress, not the clock
    eng, events, audio, conv = make_engine(FakeRunner(default_script(words=12), step_s=0.001), drain_timeout_s=0.5)
    engines.append(eng)
    eng.start()
    eng.submit_turn(CLIP)
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 20)
    assert not end.interrupted and end.played_s == pytest.approx(end.generated_s, abs=0.05)


# -- finding 15: stop() during a reply leaves no thread behind ----------------------------------------------------
def test_stop_during_a_slow_step_waits_for_the_reply_threads(engines, caplog):
    runner = FakeRunner(default_script(words=40), step_s=0.02)
    slow = threading.Event()
    runner.on_step = lambda: time.sleep(1.5) if slow.is_set() else None  # a step that ignores cancel for 1.5 s
    eng, events, _, _ = make_engine(runner, join_timeout_s=0.5, stop_timeout_s=10.0)
    engines.append(eng)
    eng.start()
    eng.submit_turn(CLIP)
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING, 20)
    slow.set()
    time.sleep(0.1)
    with caplog.at_level(logging.WARNING):
        eng.stop()
    assert "abandoning" not in caplog.text
    alive = [t.name for t in threading.enumerate() if t.name.startswith("reply")]
    assert alive == [], alive


# -- finding 16: reply workers decode on the app's thread count, whatever the listeners set ----------------------
def test_reply_worker_uses_the_app_thread_count_after_listeners_started():
    code = """
import threading, numpy as np, torch
from core.compute import configure_cpu_threads
from core.listeners.worker import ListenerWorker
from core.engine.engine import Engine
from core.engine.config import AudioConfig, EngineConfig
from tests.engine_fakes import Collector, FakeAudio, FakeConversation, FakeDecoder, FakeRunner
from core.engine.events import ReplyEnded
configure_cpu_threads(2)
lw = ListenerWorker("asr", torch_threads=1); lw.start()
seen = []
lw.submit(lambda: seen.append(torch.get_num_threads())); lw.wait_idle(10)
runner = FakeRunner()
inner = []
runner.on_step = lambda: inner.append(torch.get_num_threads())
events = Collector()
eng = Engine(runner, FakeDecoder(), config=EngineConfig(audio=AudioConfig(prebuffer_ms=60)), sink=events,
             audio=FakeAudio(), conversation=FakeConversation())
eng.start(); eng.submit_turn(np.full(16000, 0.1, np.float32))
events.wait_for(lambda e: isinstance(e, ReplyEnded), 20); eng.stop(); lw.stop(5)
print("listener", seen[0], "reply", inner[0])
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-4:] == ["listener", "1", "reply", "2"], out.stdout


class _SlowPerUnitDecoder(FakeDecoder):
    """Vocoder cost proportional to the units pushed; its stream opens late, so the model queues everything first."""

    def open_stream(self, *args, **kw):
        time.sleep(0.3)
        stream = super().open_stream(*args, **kw)
        push = stream.push

        def slow_push(units):
            self.in_push = True
            time.sleep(0.05 * len(units))
            return push(units)

        stream.push = slow_push
        return stream


def test_a_cancel_waits_for_one_vocoder_chunk_not_the_whole_queue():
    from core.audio.playout import PlayoutBuffer
    from core.engine.reply_job import ReplyJob, ReplyRequest

    decoder = _SlowPerUnitDecoder()
    job = ReplyJob(ReplyRequest(1, FakeRunner(default_script(words=8), step_s=0.0), FakeConversation(), decoder,
                                PlayoutBuffer(0), 22050, lambda ev: None))
    job.start()
    deadline = time.monotonic() + 10
    while not decoder.in_push and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    job.cancel()
    assert job.join(10.0)
    assert time.monotonic() - t0 < 1.0  # 40 queued units would take 2 s in one push


def test_a_job_is_not_finished_before_it_starts():
    """Found by scripts/quit_during_reply.py: the supervisor saw a just-created job as finished (no tasks yet) and
    finalized it, appending an empty reply before the model planned ("the conversation must end with a user turn")."""
    from core.audio.playout import PlayoutBuffer
    from core.engine.reply_job import ReplyJob, ReplyRequest

    job = ReplyJob(ReplyRequest(1, FakeRunner(), FakeConversation(), FakeDecoder(), PlayoutBuffer(0), 22050,
                                lambda ev: None))
    assert not job.finished()
    job.start()
    assert job.join(10.0) and job.finished()
