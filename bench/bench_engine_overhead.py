"""The engine's own latency, without model or vocoder compute: a runner that yields at once, the sine decoder
(testing/sine_vocoder.py) and the fake audio backend (testing/fake_audio.py) in real time.

    python bench/bench_engine_overhead.py [--turns 30]

Per turn (submitted audio): dispatched -> first audio chunk (control thread, job start, workers),
first audio -> first sample played (jitter buffer, output callback: 0-20 ms by the callback's phase), and
end of playout -> ReplyEnded at the sink (finalize). Turns start at a random phase of the 20 ms output callback.
Figures: docs/architecture.md. The figures before the control thread came from this procedure run on commit
98fb9c5 with the test fakes of that commit (tests/engine_fakes.py), which these package modules replaced.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.engine.config import AudioConfig, EngineConfig  # noqa: E402
from core.engine.engine import Engine  # noqa: E402
from core.engine.events import ReplyEnded  # noqa: E402
from core.lm.events import ReplyEvent, SpeechUnits, StopReason, TextDelta, TurnEnd  # noqa: E402
from core.turns.config import VadConfig  # noqa: E402
from models.rates import SPEECH_RATE_HZ  # noqa: E402
from testing.collector import EventCollector  # noqa: E402
from testing.fake_audio import FakeAudio  # noqa: E402
from testing.list_history import ListHistory  # noqa: E402
from testing.sine_vocoder import SineDecoder  # noqa: E402

WORDS, UNITS_PER_WORD = 2, 5
PAUSE_S, JITTER_S = 0.2, 0.02  # between turns; the jitter randomises the phase against the output callback


class InstantStream:
    def __iter__(self) -> Iterator[ReplyEvent]:
        for i in range(WORDS):
            yield TextDelta(f"word{i} ", (i,))
            yield SpeechUnits(tuple(range(i * UNITS_PER_WORD, (i + 1) * UNITS_PER_WORD)))
        yield TurnEnd(StopReason.EOS, "", WORDS, WORDS * UNITS_PER_WORD)

    def cancel(self) -> None:
        pass


class InstantRunner:
    def reply(self, conversation: object, sampling: object = None) -> InstantStream:
        return InstantStream()


class NoSpeech:
    def prob(self, frame: np.ndarray) -> float:
        return 0.0

    def reset(self) -> None:
        pass


def run(turns: int, seed: int = 0) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    arrivals: dict[int, float] = {}
    events = EventCollector()

    def sink(event: object) -> None:
        if isinstance(event, ReplyEnded):
            arrivals[event.turn_id] = time.monotonic()
        events(event)

    cfg = EngineConfig(vad=VadConfig(speculate_after_ms=None), audio=AudioConfig(prebuffer_ms=60))
    eng = Engine(InstantRunner(), SineDecoder(), config=cfg, sink=sink, audio=FakeAudio(), conversation=ListHistory(),
                 vad=NoSpeech())
    out: dict[str, list[float]] = {"dispatch_to_first_audio_ms": [], "first_audio_to_first_sample_ms": [],
                                   "played_out_to_reply_ended_ms": []}
    with eng:
        for _ in range(turns):
            tid = eng.submit_turn(np.full(SPEECH_RATE_HZ, 0.1, np.float32))
            end = events.wait_for(lambda e, tid=tid: isinstance(e, ReplyEnded) and e.turn_id == tid, 20)
            t = end.timing
            out["dispatch_to_first_audio_ms"].append(1000 * (t.first_audio_t - t.dispatched_t))
            out["first_audio_to_first_sample_ms"].append(1000 * (t.first_play_t - t.first_audio_t))
            out["played_out_to_reply_ended_ms"].append(1000 * (arrivals[tid] - (t.first_play_t + end.played_s)))
            time.sleep(PAUSE_S + float(rng.uniform(0, JITTER_S)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=30)
    args = ap.parse_args(argv)
    for name, values in run(args.turns).items():
        print(f"{name:32s} median {statistics.median(values):7.1f}  mean {statistics.mean(values):7.1f}  "
              f"max {max(values):7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
