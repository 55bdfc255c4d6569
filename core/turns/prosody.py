"""Prosody at the start of a pause: does the speech before it sound like the end of a sentence?

Three classic cues of a finished utterance, from the last seconds of the turn's audio before the silence:
- a final pitch fall: F0 at the end of the last voiced stretch against the speaker's median F0 (semitones), and
  its slope over the last 400 ms;
- energy decay: the level's slope over the last 250 ms of speech (dB/s);
- final lengthening: the last voiced run against the median voiced run (syllable-sized stretches).

F0 comes from each 40 ms frame's cumulative-mean-normalized difference function (the YIN method; 10 ms hop,
60-400 Hz), computed with numpy's FFT. A pitch tracker package would do the same; none fits the project (pyworld
has no wheel for this Python, parselmouth is GPL, librosa's pyin pulls numba), and this cue only needs a rough
contour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.turns.config import VAD_RATE_HZ

FRAME = 640  # 40 ms analysis window at 16 kHz
HOP = 160  # 10 ms
HOP_S = HOP / VAD_RATE_HZ
F0_MIN_HZ, F0_MAX_HZ = 60.0, 400.0
YIN_THRESHOLD = 0.15  # the first lag whose normalized difference dips below this is the period
VOICED_D = 0.35  # frames whose best normalized difference stays above this are unvoiced
FLOOR_DB = -45.0  # frames this far below the loudest are silence
SILENT_RMS = 1e-4  # frames quieter than this (-80 dBFS) are silence
WINDOW_S = 3.0  # the speech looked at, before the pause


@dataclass(frozen=True)
class Prosody:
    """Cues of the speech before a pause (0.0 where a cue cannot be measured)."""

    f0_end_st: float  # F0 over the last 100 ms voiced vs the median voiced F0, semitones (< 0: a fall)
    f0_slope_st_s: float  # F0 slope over the last 400 ms of voiced frames, semitones per second
    energy_slope_db_s: float  # level slope over the last 250 ms of speech, dB per second
    final_run_ratio: float  # last voiced run / median voiced run (> 1: final lengthening)
    unvoiced_tail_ms: float  # speech after the last voiced frame (a final consonant)
    last_run_drop_st: float  # F0 at the end of the last voiced run vs its highest point, semitones (<= 0)
    last_run_ms: float  # the last voiced run's length
    level_end_db: float  # the last 100 ms of speech vs the median speech level, dB

    def as_list(self) -> list[float]:
        return [getattr(self, n) for n in NAMES]


NAMES = ("f0_end_st", "f0_slope_st_s", "energy_slope_db_s", "final_run_ratio", "unvoiced_tail_ms",
         "last_run_drop_st", "last_run_ms", "level_end_db")
NEUTRAL = Prosody(0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)


def _frames(x: np.ndarray) -> np.ndarray:
    """[N] -> [F, FRAME] hopped frames (F >= 0)."""
    n = 1 + (x.size - FRAME) // HOP if x.size >= FRAME else 0
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    return x[idx]


def pitch_track(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[N] float32 16 kHz -> (f0_hz [F] with 0 where unvoiced, level_db [F] relative to the loudest frame).

    Per frame, the cumulative-mean-normalized difference function (YIN's d'): the first lag in the F0 range
    whose d' dips below YIN_THRESHOLD (else the lowest d'), voiced when that d' is below VOICED_D."""
    frames = _frames(np.asarray(x, np.float64))  # [F, 640]
    if frames.shape[0] == 0:
        return np.zeros(0), np.zeros(0)
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = np.einsum("fn,fn->f", frames, frames)  # [F]
    level_db = 10 * np.log10(energy + 1e-12)
    level_db -= level_db.max()
    level_db[energy < FRAME * SILENT_RMS ** 2] = -120.0  # digital silence is silence, whatever the loudest frame
    spec = np.fft.rfft(frames, n=2 * FRAME, axis=1)  # [F, 641]
    r = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :FRAME]  # [F, 640] autocorrelation
    cs = np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(frames ** 2, axis=1)], axis=1)  # [F, 641]
    lags = np.arange(FRAME)
    d = cs[:, FRAME - lags] + (cs[:, -1:] - cs[:, lags]) - 2 * r  # [F, 640] squared difference at each lag
    d[:, 0] = 0.0
    cmnd = d[:, 1:] * lags[1:] / np.maximum(np.cumsum(d[:, 1:], axis=1), 1e-12)  # [F, 639] for lags 1..639
    lo, hi = int(VAD_RATE_HZ / F0_MAX_HZ), int(VAD_RATE_HZ / F0_MIN_HZ)
    band = cmnd[:, lo - 1:hi]  # lags lo..hi
    below = band < YIN_THRESHOLD
    first = np.where(below.any(axis=1), below.argmax(axis=1), band.argmin(axis=1))
    # walk down to the dip's own minimum
    idx = first.copy()
    rows = np.arange(band.shape[0])
    for _ in range(band.shape[1]):
        nxt = np.minimum(idx + 1, band.shape[1] - 1)
        step = band[rows, nxt] < band[rows, idx]
        if not step.any():
            break
        idx = np.where(step, nxt, idx)
    lag = lo + idx
    voiced = (band[rows, idx] < VOICED_D) & (level_db > FLOOR_DB)
    return np.where(voiced, VAD_RATE_HZ / lag, 0.0), level_db


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index runs of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _slope(y: np.ndarray, idx: np.ndarray | None = None) -> float:
    """Least-squares slope of y per second (idx: the frames y sits at; default consecutive)."""
    if y.size < 3:
        return 0.0
    t = (np.arange(y.size) if idx is None else idx) * HOP_S
    return float(np.polyfit(t, y, 1)[0])


def prosody_before_pause(samples_16k: np.ndarray, silence_samples: int) -> Prosody:
    """Cues of the speech that ends `silence_samples` before the end of `samples_16k` ([N] float32)."""
    x = np.asarray(samples_16k, np.float32).reshape(-1)
    speech = x[:max(0, x.size - silence_samples)][-int(WINDOW_S * VAD_RATE_HZ):]
    f0, level_db = pitch_track(speech)
    loud = np.flatnonzero(level_db > FLOOR_DB)
    if loud.size == 0:
        return NEUTRAL
    end = loud[-1] + 1  # frames past the last audible one are the pause's own start
    f0, level_db = f0[:end], level_db[:end]
    voiced = f0 > 0
    if voiced.sum() < 5:
        return NEUTRAL
    # [F] semitones vs the median; an octave jump is a tracking error, not intonation
    st = np.clip(12 * np.log2(np.where(voiced, f0, 1.0) / np.median(f0[voiced])), -12.0, 12.0)
    runs = [r for r in _runs(voiced) if r[1] - r[0] >= 2]
    if not runs:
        return NEUTRAL
    last_start, last_end = runs[-1]
    tail = st[max(last_start, last_end - 10):last_end]  # the last 100 ms voiced
    recent = np.flatnonzero(voiced)
    recent = recent[recent >= last_end - 40]  # voiced frames in the last 400 ms of voicing
    lengths = np.array([b - a for a, b in runs], np.float64)
    return Prosody(
        f0_end_st=float(np.median(tail)),
        f0_slope_st_s=_slope(st[recent], recent),
        energy_slope_db_s=_slope(level_db[max(0, end - 25):end]),
        final_run_ratio=float(lengths[-1] / max(np.median(lengths), 1.0)),
        unvoiced_tail_ms=float(1000.0 * (end - last_end) * HOP_S),
        last_run_drop_st=float(np.median(tail) - st[last_start:last_end].max()),
        last_run_ms=float(1000.0 * (last_end - last_start) * HOP_S),
        level_end_db=float(level_db[max(0, end - 10):end].mean() - np.median(level_db[loud])),
    )
