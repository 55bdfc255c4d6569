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

from app.fake_audio import FakeAudio
from core.audio.espeak import espeak, espeak_available
from core.engine.collector import EventCollector
from core.engine.config import VAD_RATE_HZ, EngineConfig, VadConfig
from core.engine.engine import Engine
from core.engine.events import EngineState, ReplyEnded, UserTurnCaptured

log = logging.getLogger(__name__)

END_SILENCE_MS = VadConfig().end_silence_ms  # the VAD's end-of-turn silence; identical for ours and the baseline
SPEECH_TEXT = "Could you tell me something cheerful about the weather today?"
REPLY_TIMEOUT_S = 600.0
SETTLE_S = 0.2


class _SeededDecoder:
    """The engine's decoder seam (`sample_rate_hz`, `open_stream()`) with a fixed seed, our chunk schedule."""

    def __init__(self, decoder, seed: int = 0) -> None:
        self._dec, self._seed = decoder, seed
        self.sample_rate_hz = decoder.sample_rate_hz

    def open_stream(self):
        import torch

        return self._dec.open_stream(generator=torch.Generator().manual_seed(self._seed))


def engine_turns(runner, decoder, clip, sampling, turns: int) -> list[dict]:
    """`turns` one-turn conversations through a started engine; per turn the dispatch -> first sample figures."""
    events, audio = EventCollector(), FakeAudio()
    cfg = EngineConfig(vad=VadConfig(end_silence_ms=END_SILENCE_MS))
    eng = Engine(runner, _SeededDecoder(decoder), config=cfg, sink=events, audio=audio, sampling=sampling)
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


def engine_vad_turns(runner, decoder, speech_16k, sampling, turns: int, speculate_ms: float | None) -> list[dict]:
    """`turns` one-turn conversations spoken into the fake mic; per turn: the captured samples, end of speech ->
    first sample, dispatched -> first sample, and the speculative head start (0 without speculation)."""
    events, audio = EventCollector(), FakeAudio()
    cfg = EngineConfig(vad=VadConfig(end_silence_ms=END_SILENCE_MS, speculate_after_ms=speculate_ms))
    eng = Engine(runner, _SeededDecoder(decoder), config=cfg, sink=events, audio=audio, sampling=sampling)
    mic_speech = soxr.resample(speech_16k, VAD_RATE_HZ, audio.in_rate_hz).astype(np.float32)
    rows = []
    eng.start()
    try:
        for _ in range(turns):
            tid = len(events.of(UserTurnCaptured)) + 1
            audio.mic.inject(mic_speech)
            turn = events.wait_for(lambda e, i=tid: isinstance(e, UserTurnCaptured) and e.turn_id == i, 60)
            end = events.wait_for(lambda e, i=tid: isinstance(e, ReplyEnded) and e.turn_id == i, REPLY_TIMEOUT_S)
            _settle(eng)
            t = end.timing
            if end.error or t is None or t.first_play_t is None:
                raise RuntimeError(f"engine turn failed: {end.error or 'no audio played'}")
            rows.append({
                "samples": turn.samples,
                "speech_end_to_first_sample_s": t.first_play_t - turn.speech_end_t,
                "dispatch_to_first_sample_s": t.first_play_t - t.dispatched_t,
                "head_start_s": t.dispatched_t - t.speculated_t if t.speculated_t is not None else 0.0,
            })
    finally:
        eng.stop()
    return rows


def _settle(eng: Engine) -> None:
    while eng.state is not EngineState.LISTENING:
        time.sleep(0.01)
    time.sleep(SETTLE_S)
    eng.conversation.clear()  # every turn sees the same one-turn prompt, like the pure-compute runs
