"""Quality checks on synthesized turns: duration, silence, clipping, ASR word error rate (the Whisper listener)
and, optionally, whether the speech-emotion listener hears the intended emotion. Each failure is a counter key."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.data.config import FilterConfig
from models.errors import UserError

log = logging.getLogger(__name__)

LISTENER_RATE_HZ = 16_000
FRAME_MS = 20
CLIP_LEVEL = 0.999
LOAD_TIMEOUT_S = 600.0
_WORDS = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class TurnCheck:
    """What was measured on one turn; `reason` is None when the turn passes."""

    reason: str | None
    duration_s: float
    silence_ratio: float
    clipped_ratio: float
    wer: float | None = None
    heard_text: str | None = None
    heard_emotion: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def normalize_words(text: str) -> list[str]:
    return _WORDS.findall(text.lower().replace("’", "'"))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance / reference length, on lower-cased words without punctuation."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)


def silence_ratio(samples: np.ndarray, rate_hz: int, silence_dbfs: float) -> float:
    frame = max(1, rate_hz * FRAME_MS // 1000)
    n = samples.size // frame
    if n == 0:
        return 1.0
    frames = samples[: n * frame].reshape(n, frame).astype(np.float64)  # [n_frames, frame]
    rms = np.sqrt(np.mean(frames**2, axis=1) + 1e-20)
    return float(np.mean(20 * np.log10(rms) < silence_dbfs))


def clipped_ratio(samples: np.ndarray) -> float:
    return float(np.mean(np.abs(samples) >= CLIP_LEVEL)) if samples.size else 0.0


class QualityChecks:
    """Loads the listeners the config names (once per worker) and checks one turn at a time."""

    def __init__(self, config: FilterConfig) -> None:
        self.config = config
        self.asr = _start_listener("asr", config.asr_checkpoint, config) if config.asr_checkpoint else None
        self.ser = _start_listener("ser", config.emotion_checkpoint, config) if config.emotion_checkpoint else None
        self.emotion_map = dict(pair.split("=", 1) for pair in config.emotion_map)

    def check(self, samples: np.ndarray, rate_hz: int, text: str, emotion: str) -> TurnCheck:
        cfg = self.config
        duration_s = samples.size / rate_hz
        silence = silence_ratio(samples, rate_hz, cfg.silence_dbfs)
        clipped = clipped_ratio(samples)
        base = dict(duration_s=round(duration_s, 3), silence_ratio=round(silence, 4), clipped_ratio=round(clipped, 6))
        if not cfg.min_duration_s <= duration_s <= cfg.max_duration_s:
            return TurnCheck("filter:duration", **base)
        if silence > cfg.max_silence_ratio:
            return TurnCheck("filter:silence", **base)
        if clipped > cfg.max_clipped_ratio:
            return TurnCheck("filter:clipping", **base)
        audio_16k = _to_16k(samples, rate_hz) if self.asr or self.ser else None
        wer = heard = None
        if self.asr is not None:
            heard = self.asr.transcribe(audio_16k)
            wer = round(word_error_rate(text, heard), 4)
            if wer > cfg.max_wer:
                return TurnCheck("filter:wer", **base, wer=wer, heard_text=heard)
        heard_emotion = None
        wanted = self.emotion_map.get(emotion)
        if self.ser is not None and wanted is not None:
            heard_emotion, _ = self.ser.classify(audio_16k)
            if heard_emotion.lower() != wanted.lower():
                return TurnCheck("filter:emotion", **base, wer=wer, heard_text=heard, heard_emotion=heard_emotion)
        return TurnCheck(None, **base, wer=wer, heard_text=heard, heard_emotion=heard_emotion)

    def close(self) -> None:
        for listener in (self.asr, self.ser):
            if listener is not None:
                listener.close(timeout_s=5.0)


def _to_16k(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    if rate_hz == LISTENER_RATE_HZ:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples, rate_hz, LISTENER_RATE_HZ).astype(np.float32)


def _start_listener(kind: str, checkpoint: str, config: FilterConfig) -> Any:
    """A loaded listener used synchronously (its worker thread only loads it)."""
    from core.listeners.asr import AsrListener
    from core.listeners.config import ListenersConfig
    from core.listeners.emotion import SpeechEmotionListener

    lconf = ListenersConfig(
        asr_checkpoint=checkpoint if kind == "asr" else None, ser_checkpoint=checkpoint if kind == "ser" else None,
        local_files_only=config.local_files_only, worker_nice=0, asr_max_new_tokens=config.asr_max_new_tokens,
        hold_until_first_audio=False,
    )
    cls = AsrListener if kind == "asr" else SpeechEmotionListener
    listener = cls(checkpoint, lconf, emit=lambda event: None)
    listener.start()
    listener.wait_idle(LOAD_TIMEOUT_S)
    status = listener.status()
    if not status.enabled:
        listener.close(timeout_s=5.0)
        key = "asr_checkpoint" if kind == "asr" else "emotion_checkpoint"
        raise UserError(f"filters.{key} {checkpoint}: {status.reason}")
    return listener
