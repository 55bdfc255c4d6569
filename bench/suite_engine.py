"""Ours through the real app path: the `Engine` with the fake sounddevice backend (tests/engine_fakes.py), a user
turn dispatched with `submit_turn()`; timing from the engine's `ReplyTiming` (dispatched -> first reply sample
taken by the output callback)."""

from __future__ import annotations

import logging
import time

from core.engine import Engine
from core.engine_config import EngineConfig, VadConfig
from core.engine_events import EngineState, ReplyEnded
from tests.engine_fakes import Collector, FakeAudio

log = logging.getLogger(__name__)

END_SILENCE_MS = 700.0  # the VAD's end-of-turn silence (VadConfig default); identical for ours and the baseline
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
    events, audio = Collector(), FakeAudio()
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


def _one_turn(eng: Engine, events: Collector, clip) -> dict:
    tid = eng.submit_turn(clip)
    if tid < 0:
        raise RuntimeError("the engine refused the benchmark clip")
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == tid, REPLY_TIMEOUT_S)
    while eng.state is not EngineState.LISTENING:
        time.sleep(0.01)
    time.sleep(SETTLE_S)
    eng.conversation.clear()  # every turn sees the same one-turn prompt, like the pure-compute runs
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
