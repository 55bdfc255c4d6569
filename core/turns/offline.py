"""The capture side's turn detection run over a recording in simulated real time (`main.py turns`, benchmarks).

Same pieces as the live capture thread (core.turns.capture): 512-sample frames at 16 kHz -> silero-vad ->
`make_detector(config, scorer)` (the semantic detector, or the VAD alone when the model is off). Frame k arrives at
file time (k + 1) * 32 ms; the work done on it (VAD, and the end-of-turn model when it runs) keeps the simulated
capture thread busy for its measured wall time, so a decision is known at
max(arrival, busy until) + compute, in file time, as it would be live on this machine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.turns.config import VAD_FRAME, VAD_RATE_HZ, TurnSettings
from core.turns.semantic import ContinuedAfterCommit, make_detector
from core.turns.vad import SpeechStart, Turn, frames_to_s

log = logging.getLogger(__name__)


@dataclass
class TurnReport:
    """One user turn as the engine would see it (continuations after an early commit merged in)."""

    start_s: float  # first voiced frame
    end_s: float  # end of speech (one past the last voiced frame)
    decided_s: float  # the turn was committed (the reply may start), incl. compute
    reason: str  # "semantic" | "silence" | "max_length"
    early_commits_s: list[float] = field(default_factory=list)  # commits the speaker talked over (false cuts)
    model_calls: int = 0  # end-of-turn model calls during this turn's silences
    model_s: float = 0.0  # their compute

    def as_dict(self) -> dict:
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "decided_s": round(self.decided_s, 3), "decision_ms": round(1000 * (self.decided_s - self.end_s)),
                "reason": self.reason, "early_commits_s": [round(t, 3) for t in self.early_commits_s],
                "model_calls": self.model_calls, "model_ms": round(1000 * self.model_s)}


def simulate_turns(samples_16k: np.ndarray, config: TurnSettings, vad, scorer=None,
                   text_prob: Callable[[float], float | None] | None = None, tail_s: float = 3.0,
                   count_compute: bool = True) -> list[TurnReport]:
    """Turns in `samples_16k` ([N] float32 16 kHz); `tail_s` of silence is appended (the speaker stops).
    count_compute=False: decisions at their frame's arrival, as on an infinitely fast machine (the policy
    alone)."""
    x = np.concatenate([np.asarray(samples_16k, np.float32).reshape(-1), np.zeros(int(tail_s * VAD_RATE_HZ),
                                                                                    np.float32)])
    det = make_detector(config, scorer, text_prob)
    vad.reset()
    frame_s = VAD_FRAME / VAD_RATE_HZ
    busy_until, speech_start = 0.0, 0.0
    calls, model_s = 0, 0.0
    reports: list[TurnReport] = []
    for k in range(x.size // VAD_FRAME):
        frame = x[k * VAD_FRAME:(k + 1) * VAD_FRAME]
        now = max((k + 1) * frame_s, busy_until)
        t0 = time.perf_counter()
        prob = vad.prob(frame)
        vad_s = time.perf_counter() - t0
        events = det.feed(frame, prob)
        compute_s = getattr(det, "last_compute_s", 0.0)
        busy_until = now + vad_s + compute_s if count_compute else (k + 1) * frame_s
        calls, model_s = calls + (compute_s > 0), model_s + compute_s
        for ev in events:
            if isinstance(ev, SpeechStart):
                speech_start = frames_to_s(ev.frame_index)
            elif isinstance(ev, ContinuedAfterCommit) and reports:
                reports[-1].early_commits_s.append(reports[-1].decided_s)
            elif isinstance(ev, Turn):
                if ev.continues and reports:
                    last = reports[-1]
                    last.end_s, last.decided_s, last.reason = frames_to_s(ev.speech_end_frame), busy_until, ev.reason
                else:
                    last = TurnReport(speech_start, frames_to_s(ev.speech_end_frame), busy_until, ev.reason)
                    reports.append(last)
                last.model_calls, last.model_s = last.model_calls + calls, last.model_s + model_s
                calls, model_s = 0, 0.0
    return reports
