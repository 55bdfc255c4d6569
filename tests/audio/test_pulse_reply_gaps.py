"""Gaps inside a reply, measured from a recording of the PulseAudio speaker sink: the real PortAudio path, the
small preset (random weights) with the tiny decoder, the app's default vocoder schedule ("auto": planned from
this machine's measured speeds), the listeners on (tiny checkpoints through the app's ListenerBridge), espeak-ng
speech into the virtual microphone. Prints the longest gap and writes it to $OPENS2S_GAPS_JSON when set.

Slow (model load, a ~6 s reply in real time); run: pytest -m "audio and slow" tests/audio/test_pulse_reply_gaps.py -s
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from tests.audio.test_pulse import MONITOR_RATE_HZ, speak_and_record, wav_of
from tests.engine_fakes import Collector

pytestmark = [pytest.mark.audio, pytest.mark.slow]
QUIET = 1e-4  # |sample| below this counts as silence (the jitter buffer's underrun fill is exact zeros)
GAP_LIMIT_MS = 20.0  # the figure: measured and printed (README)
# The test fails above this. Run alone on 2 cores: 0 gaps in 4 of 4 runs; inside the whole suite (2 busy cores):
# two gaps of 105-112 ms once. Before the playback plan modelled each call's real emission and the listeners waited
# for the reply to get ahead: one 48-188 ms gap per reply alone, 376-676 ms under load.
FAIL_GAP_MS = 200.0


# The user speaks once the listeners are ready: their first load (the imports of transformers' model modules) ran
# beside the first reply and took the CPU (2026-12-06: 244 and 678 ms gaps inside the whole suite, 318 ms alone;
# waiting for "ready": 18 and 32 ms). A real-time figure on a shared 2-core machine: one more try when the first
# has a gap over FAIL_GAP_MS (both are printed).
TRIES = 2


def _one_reply(companion, paths: dict, pulse_server, wav, rec_path):
    """One spoken turn and its reply with the listeners on: (ReplyEnded, the sink's recording, the figures)."""
    plan = companion.playback
    from core.listeners.bridge import ListenerBridge
    from core.listeners.config import ListenersConfig
    from core.listeners.events import ListenerStatus
    from core.listeners.manager import Listeners

    ready: set[str] = set()
    listeners = Listeners(ListenersConfig(asr_checkpoint=str(paths["asr"]), ser_checkpoint=str(paths["ser"]),
                                          text_emotion_checkpoint=str(paths["text_emotion"])),
                          lambda ev: isinstance(ev, ListenerStatus) and ev.enabled and ready.add(ev.name))
    bridge, events = ListenerBridge(lambda: listeners), Collector()
    deadline = time.monotonic() + 60
    while len(ready) < 3 and time.monotonic() < deadline:  # a user speaks after the app is ready, not during the
        time.sleep(0.05)  # listeners' first load (its imports took the CPU from the first reply: 318 ms gaps)

    def sink(ev):
        bridge.on_event(ev)
        events(ev)

    eng = companion.engine(sink=sink)
    try:
        end = speak_and_record(pulse_server, eng, events, wav, rec_path, 120)
    finally:
        listeners.close()
    y = np.fromfile(rec_path, dtype=np.float32)
    gaps = gaps_ms(y, MONITOR_RATE_HZ)
    figures = {"schedule": plan.schedule.chunk_units, "prebuffer_ms": plan.prebuffer_ms, "played_s": end.played_s,
               "generated_s": end.generated_s, "underruns": end.underruns, "max_gap_ms": max(gaps, default=0.0),
               "gaps_over_20ms": [g for g in gaps if g > GAP_LIMIT_MS],
               "gaps_over_20ms_at_s": [round(t, 3) for t, g in gaps_at(y, MONITOR_RATE_HZ) if g > GAP_LIMIT_MS]}
    return end, y, figures


def gaps_ms(y: np.ndarray, rate_hz: int) -> list[float]:
    """Lengths of the quiet runs strictly inside the loud part of `y`."""
    return [length for _, length in gaps_at(y, rate_hz)]


def gaps_at(y: np.ndarray, rate_hz: int) -> list[tuple[float, float]]:
    """(start s after the first loud sample, length ms) of the quiet runs strictly inside the loud part of `y`."""
    loud = np.flatnonzero(np.abs(y) >= QUIET)
    if loud.size < 2:
        return []
    steps = np.diff(loud)
    return [((loud[i] + 1 - loud[0]) / rate_hz, 1000 * (s - 1) / rate_hz) for i, s in enumerate(steps) if s > 1]


def test_gaps_helper():
    y = np.ones(1000, np.float32)
    y[100:150] = 0
    assert gaps_ms(y, 1000) == [50.0]


def test_reply_has_no_gap_at_the_sink(pulse_server, speech_factory, tmp_path):
    from app.assembly import build
    from app.config import CompanionConfig, ModelSource
    from core.lm.sampling import SamplingConfig
    from models.listeners.tiny import write_tiny_listeners
    from models.tiny_checkpoint import TinySpec, make_tiny_checkpoint
    from models.tiny_decoder import make_tiny_decoder

    # the app's defaults (warm-up, the "auto" schedule planned here) through the app's assembly; the VAD's silence
    # ends the turn (no Smart Turn model: this test is about playback)
    model = ModelSource(str(make_tiny_checkpoint(tmp_path / "ckpt", TinySpec.small())),
                        str(make_tiny_decoder(tmp_path / "dec", seed=0, size="tiny")))
    companion = build(CompanionConfig(model=model, sampling=SamplingConfig(seed=0, max_text_tokens=40, max_units=80)),
                      end_of_turn=False, download=False)
    paths = write_tiny_listeners(tmp_path / "listeners")
    wav = wav_of(speech_factory, "Could you tell me something about the weather?", tmp_path)
    tries = []
    for attempt in range(TRIES):
        end, y, figures = _one_reply(companion, paths, pulse_server, wav, tmp_path / f"monitor{attempt}.raw")
        tries.append(figures)
        print(f"\nreply gaps at the sink (try {attempt + 1}):", json.dumps(figures))
        if figures["max_gap_ms"] <= FAIL_GAP_MS:
            break
    if os.environ.get("OPENS2S_GAPS_JSON"):
        with open(os.environ["OPENS2S_GAPS_JSON"], "w") as f:
            json.dump(tries, f)
    worst, gaps = figures["max_gap_ms"], gaps_ms(y, MONITOR_RATE_HZ)
    assert end.error is None and end.played_s > 1.0  # the reply reached the sink
    assert worst <= FAIL_GAP_MS, tries  # every try had a gap over the limit
    loud = np.flatnonzero(np.abs(y) >= QUIET)
    assert abs((loud[-1] - loud[0]) / MONITOR_RATE_HZ - end.played_s) < 0.5 + sum(gaps) / 1000
