"""Ours through the real app path: the `Engine` with the fake sounddevice backend (tests/engine_fakes.py); timing
from the engine's `ReplyTiming` (dispatched -> first reply sample taken by the output callback).

Two ways in: `engine_turns` dispatches the clip with `submit_turn()` (no VAD, so no speculative start: the
engine's overhead over pure compute); `engine_vad_turns` speaks espeak-ng speech into the fake microphone in real
time, so the VAD ends the turn and the speculative turn start (`VadConfig.speculate_after_ms`) can run."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import soxr

from core.engine.config import EngineConfig
from core.engine.engine import Engine
from core.engine.events import EngineState, ReplyEnded, UserTurnCaptured
from core.turns.config import VAD_RATE_HZ, VadConfig
from core.voice.schedule_plan import PlaybackPlan
from testing.collector import EventCollector
from testing.espeak import espeak, espeak_available
from testing.fake_audio import FakeAudio

log = logging.getLogger(__name__)

END_SILENCE_MS = VadConfig().end_silence_ms  # the VAD's end-of-turn silence; identical for ours and the baseline
SPEECH_TEXT = "Could you tell me something cheerful about the weather today?"
REPLY_TIMEOUT_S = 600.0
SETTLE_S = 0.2


def engine_turns(runner, decoder, clip, sampling, turns: int) -> list[dict]:
    """`turns` one-turn conversations through a started engine; per turn the dispatch -> first sample figures."""
    events, audio = EventCollector(), FakeAudio()
    cfg = EngineConfig(vad=VadConfig(end_silence_ms=END_SILENCE_MS))
    eng = Engine(runner, decoder, config=cfg, sink=events, audio=audio, sampling=sampling)
    rows = []
    eng.start()
    try:
        for _ in range(turns):
            rows.append(_one_turn(eng, events, clip))
    finally:
        eng.stop()
    return rows


def _one_turn(eng: Engine, events: EventCollector, clip) -> dict:
    tid = eng.submit_turn(clip)
    if tid < 0:
        raise RuntimeError("the engine refused the benchmark clip")
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == tid, REPLY_TIMEOUT_S)
    _settle(eng)
    t = end.timing
    if end.error or t is None or t.first_play_t is None:
        raise RuntimeError(f"engine turn failed: {end.error or 'no audio played'}")
    return {
        "dispatch_to_first_sample_s": t.first_play_t - t.dispatched_t,
        "dispatch_to_first_audio_s": t.first_audio_t - t.dispatched_t,
        "model_compute_s": t.model_to_first_audio_s,
        "vocoder_compute_s": t.vocoder_to_first_audio_s,
        "buffering_s": t.first_play_t - t.first_audio_t,
    }


def espeak_speech_16k(text: str = SPEECH_TEXT) -> np.ndarray | None:
    """[N] float32 speech at 16 kHz from espeak-ng, or None when it is not installed."""
    if not espeak_available():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        x, rate = espeak(text, Path(tmp))
    return soxr.resample(x, rate, VAD_RATE_HZ).astype(np.float32)


class CountingRunner:
    """The runner, counting `reply()` calls (replies started, speculative ones included)."""

    def __init__(self, runner) -> None:
        self._runner, self.replies = runner, 0

    def reply(self, *args, **kwargs):
        self.replies += 1
        return self._runner.reply(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._runner, name)


def engine_vad_turns(runner, decoder, speech_16k, sampling, turns: int, config: EngineConfig,
                     end_of_turn=None, playback: PlaybackPlan | None = None) -> list[dict]:
    """`turns` one-turn conversations spoken into the fake mic (`speech_16k`: one clip, or a list used in turn);
    per turn: the captured samples, end of speech -> first sample, dispatched -> first sample, the end-of-turn
    decision (end of speech -> dispatch), the speculative head start (0 without speculation) and the replies
    started for it (> 1: speculative replies dropped).
    config: the engine's config as the caller built it (its `vad`, `end_of_turn` and duplex mode are used as they
    are: the app's through app.assembly.turn_stage, or a named baseline); end_of_turn: the Smart Turn scorer (None:
    the VAD's silence ends turns); playback: the vocoder's schedule, jitter buffer and seed (None: the engine's
    default, the "fast" schedule, seed 0)."""
    events, audio = EventCollector(), FakeAudio()
    counting = CountingRunner(runner)
    eng = Engine(counting, decoder, playback=playback, config=config, sink=events, audio=audio, sampling=sampling,
                 end_of_turn=end_of_turn)
    clips = speech_16k if isinstance(speech_16k, list) else [speech_16k]
    mic_clips = [soxr.resample(c, VAD_RATE_HZ, audio.in_rate_hz).astype(np.float32) for c in clips]
    rows = []
    eng.start()
    try:
        for i in range(turns):
            tid = len(events.of(UserTurnCaptured)) + 1
            started = counting.replies
            audio.mic.inject(mic_clips[i % len(mic_clips)])
            turn, end, cuts = _final_reply(events, tid)
            _settle(eng)
            t = end.timing
            if end.error or t is None or t.first_play_t is None:
                raise RuntimeError(f"engine turn failed: {end.error or 'no audio played'}")
            rows.append({
                "samples": turn.samples,
                "speech_end_to_first_sample_s": t.first_play_t - turn.speech_end_t,
                "dispatch_to_first_sample_s": t.first_play_t - t.dispatched_t,
                "head_start_s": t.dispatched_t - t.speculated_t if t.speculated_t is not None else 0.0,
                "decision_s": turn.dispatched_t - turn.speech_end_t,
                "after_decision_s": t.first_play_t - turn.dispatched_t,  # the rest: the reply's part of the wait
                "replies_started": counting.replies - started,
                "early_cuts": cuts,
            })
    finally:
        eng.stop()
    return rows


def _final_reply(events: EventCollector, tid: int) -> tuple[UserTurnCaptured, ReplyEnded, int]:
    """The user turn `tid` and its reply; when the speaker went on after an early commit, the merged turn and
    its reply instead (and how many early commits they talked over)."""
    cuts = 0
    while True:
        turn = events.wait_for(lambda e, i=tid: isinstance(e, UserTurnCaptured) and e.turn_id == i, 60)
        end = events.wait_for(lambda e, i=tid: isinstance(e, ReplyEnded) and e.turn_id == i, REPLY_TIMEOUT_S)
        nxt = [e for e in events.of(UserTurnCaptured) if e.continues_turn == tid]
        if not end.interrupted and not nxt:
            return turn, end, cuts
        cuts += 1
        tid = events.wait_for(lambda e, i=tid: isinstance(e, UserTurnCaptured) and e.continues_turn == i, 60).turn_id


def _settle(eng: Engine) -> None:
    while eng.state is not EngineState.LISTENING:
        time.sleep(0.01)
    time.sleep(SETTLE_S)
    eng.conversation.clear()  # every turn sees the same one-turn prompt, like the pure-compute runs
