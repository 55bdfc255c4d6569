"""One full-duplex trial on the room rig (testing.room through testing.fake_audio): the real engine, its real
capture path (silero-vad, the echo canceller), a stand-in voice whose replies are real synthetic speech
(testing.speech_voice) played through the normal jitter buffer, and the speaker's output coming back into the
microphone through the room. Kinds:

    reply       a reply with no user speech: self-interruptions, ERLE over time
    sentence    the user starts a sentence over the reply: barge-in delay, the captured turn against the clean speech
    backchannel the user says "mm-hm" over the reply: it must play on
    turn        the user says a sentence with nothing playing: end of speech -> first reply sample (what the
                canceller adds to the reply's latency, against the same trial without it)

Shared by bench/bench_duplex.py and tests/engine/test_duplex.py.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import soxr

from core.engine.config import EngineConfig
from core.engine.engine import Engine
from core.engine.events import (
    BargeIn,
    EngineState,
    ReplyEnded,
    ReplyPaused,
    ReplyResumed,
    StateChanged,
    UserTurnCaptured,
)
from core.turns.config import VAD_RATE_HZ
from testing.collector import EventCollector
from testing.fake_audio import FakeAudio
from testing.list_history import ListHistory
from testing.room import RoomConfig
from testing.speech_voice import SpeechVoice, backchannel, user_sentence
from testing.turn_corpus.sentences import sentences

log = logging.getLogger(__name__)

KINDS = ("reply", "sentence", "backchannel", "turn")
LOUD = 0.01  # a speaker block above this peak is audible reply
ONSET_LEVEL = 0.02  # the clean user clip's first sample above this is its speech onset
ERLE_WINDOW_S = 0.5
CONVERGE_S = 1.0  # ERLE counts from this long after the reply's first sample
ONSET_SPAN_S = 0.5  # the start of the user's speech: over the reply until it pauses, then its echo tail
BAND_HZ = 200.0  # the captured turn is also compared above this (the speech band without the lowest harmonics)


@dataclass
class TrialResult:
    kind: str
    duplex: str
    room: dict
    seed: int
    paused: int = 0  # ReplyPaused events
    resumed: int = 0
    barge_ins: int = 0
    interrupted: bool = False  # the reply ended interrupted
    turns: int = 0  # user turns captured (the reply's own echo must make none)
    stop_ms: float | None = None  # speech onset -> last audible reply block (sentence/backchannel)
    erle_db: float | None = None  # after CONVERGE_S, over the reply (kind "reply")
    erle_curve_db: list[float] = field(default_factory=list)  # per ERLE_WINDOW_S from the first sample
    capture_corr: float | None = None  # the captured user turn vs the clean speech (kind "sentence")
    capture_snr_db: float | None = None
    capture_corr_band: float | None = None  # the same above BAND_HZ
    capture_snr_band_db: float | None = None
    capture_onset_corr: float | None = None  # the first ONSET_SPAN_S of the speech (the double talk), full band
    capture_onset_level_db: float | None = None  # its level against the clean speech's
    clipped_ms: float | None = None  # speech missing at the captured turn's start
    aec_ms_per_frame: float | None = None  # the canceller's CPU time per 10 ms frame
    realigned: int = 0  # times the canceller re-anchored a stream's clock
    latency_ms: float | None = None  # end of the user's speech -> first audible reply sample (kind "turn")
    echo_missing: int = 0  # rig: echo samples the speaker thread had not produced in time
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class _Tap:
    """The engine's mic_tap: (arrival time, raw, cleaned) pieces, copied."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pieces: list[tuple[float, np.ndarray, np.ndarray]] = []

    def __call__(self, raw: np.ndarray, clean: np.ndarray) -> None:
        with self._lock:
            self.pieces.append((time.monotonic(), raw.copy(), clean.copy()))

    def streams(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(arrival time of each raw sample's piece [N], raw [N], clean [M]) at 16 kHz."""
        with self._lock:
            pieces = list(self.pieces)
        if not pieces:
            z = np.zeros(0, np.float32)
            return z, z, z
        t = np.concatenate([np.full(r.size, a) for a, r, _ in pieces])
        return t, np.concatenate([r for _, r, _ in pieces]), np.concatenate([c for _, _, c in pieces])


def _window_power(x: np.ndarray, start: int, size: int) -> float:
    return float(np.mean(x[start : start + size].astype(np.float64) ** 2)) if x[start : start + size].size else 0.0


def erle(tap: _Tap, first_play_t: float, end_t: float) -> tuple[float | None, list[float]]:
    """(ERLE over [first_play + CONVERGE_S, end], per-window curve from first_play): raw vs cleaned power."""
    t, raw, clean = tap.streams()
    if raw.size == 0:
        return None, []
    i0 = int(np.searchsorted(t, first_play_t))
    i_end = min(int(np.searchsorted(t, end_t)), clean.size)
    w = int(ERLE_WINDOW_S * VAD_RATE_HZ)
    curve = []
    for k in range(i0, i_end - w + 1, w):
        p_raw, p_clean = _window_power(raw, k, w), _window_power(clean, k, w)
        curve.append(round(10 * np.log10(max(p_raw, 1e-20) / max(p_clean, 1e-20)), 2))
    c0 = i0 + int(CONVERGE_S * VAD_RATE_HZ)
    if i_end - c0 < w:
        return None, curve
    p_raw = _window_power(raw, c0, i_end - c0)
    p_clean = _window_power(clean, c0, i_end - c0)
    return float(10 * np.log10(max(p_raw, 1e-20) / max(p_clean, 1e-20))), curve


def highpass(x: np.ndarray, cutoff_hz: float) -> np.ndarray:
    """x [N] at 16 kHz with everything under `cutoff_hz` removed (FFT bins: a brick wall, offline)."""
    spec = np.fft.rfft(x)
    spec[: int(cutoff_hz * x.size / VAD_RATE_HZ) + 1] = 0
    return np.fft.irfft(spec, x.size).astype(np.float32)


def compare_capture(turn_16k: np.ndarray, clean_16k: np.ndarray, highpass_hz: float | None = None,
                    onset: bool = False) -> tuple[float, float, float]:
    """(correlation, SNR dB, clipped ms) of a captured turn against the clean speech it should hold: the clean
    clip is found in the turn by cross-correlation; SNR after the best gain; clipped = voiced clean speech that
    falls before the turn's first sample. `highpass_hz`: compare above it only (the canceller's high-pass filter
    takes the lowest harmonics of a low voice, which no listener misses). `onset`: (correlation, level dB, clipped)
    over the first ONSET_SPAN_S of the clean speech from its onset instead."""
    if highpass_hz is not None:
        turn_16k, clean_16k = highpass(turn_16k, highpass_hz), highpass(clean_16k, highpass_hz)
    n = clean_16k.size
    if turn_16k.size == 0:
        return 0.0, -99.0, 1000.0 * n / VAD_RATE_HZ
    pad = np.concatenate([np.zeros(n, np.float32), turn_16k, np.zeros(n, np.float32)])
    spec = np.fft.rfft(pad, 2 * pad.size)
    corr = np.fft.irfft(spec * np.conj(np.fft.rfft(clean_16k, 2 * pad.size)))[: pad.size - n + 1]
    lag = int(np.argmax(corr))  # clean[0] sits at pad[lag] = turn[lag - n]
    seg = pad[lag : lag + n]
    start_in_clean = max(0, n - lag)  # clean samples before the turn's first sample
    first = int(np.argmax(np.abs(clean_16k) > ONSET_LEVEL))
    clipped = max(0, start_in_clean - first) * 1000.0 / VAD_RATE_HZ
    if onset:
        span = slice(first, first + int(ONSET_SPAN_S * VAD_RATE_HZ))
        a, b = seg[span], clean_16k[span]
        rho = float(np.dot(a, b)) / (float(np.sqrt(np.dot(a, a) * np.dot(b, b))) + 1e-12)
        return rho, float(10 * np.log10((np.mean(a**2) + 1e-12) / (np.mean(b**2) + 1e-12))), clipped
    denom = float(np.sqrt(np.dot(seg, seg) * np.dot(clean_16k, clean_16k))) + 1e-12
    rho = float(np.dot(seg, clean_16k)) / denom
    g = float(np.dot(seg, clean_16k)) / (float(np.dot(clean_16k, clean_16k)) + 1e-12)
    resid = seg - g * clean_16k
    snr = 10 * np.log10((g * g * float(np.dot(clean_16k, clean_16k)) + 1e-12) / (float(np.dot(resid, resid)) + 1e-12))
    return rho, float(snr), clipped


def _turn_latency(audio: FakeAudio, events: EventCollector, split: str, seed: int, timeout_s: float) -> float:
    clean = user_sentence(split=split, seed=seed, rate_hz=audio.in_rate_hz)
    rec = audio.mic.inject(clean)
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING, timeout_s)
    voiced = np.flatnonzero(np.abs(clean) > ONSET_LEVEL)
    end_t = rec["start_t"] + (voiced[-1] + 1) / audio.in_rate_hz
    loud = [t for t in audio.speaker.loud_times(LOUD) if t >= end_t]
    return 1000 * (loud[0] - end_t) if loud else float("nan")


def run_trial(kind: str, room: RoomConfig | None, *, split: str = "train", seed: int = 0,
              config: EngineConfig | None = None, user_at_s: float = 1.5, word: str = "mm-hm",
              reply_sentences: int = 2, timeout_s: float = 40.0) -> TrialResult:
    """One trial (see module doc). `config`: the engine's (its duplex mode decides whether the echo is
    cancelled); `user_at_s`: when the user starts, after the reply's first sample; the reply says
    `reply_sentences` of the split's sentences in one voice of the split (the user another)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    cfg = config or EngineConfig(duplex="speakers")
    audio = FakeAudio(room=room)
    pool = sentences(split, paused=False)
    picks = np.random.default_rng(seed + 101).choice(len(pool), size=reply_sentences, replace=False)
    voice = SpeechVoice(texts=[" ".join(pool[int(i)].text for i in picks)], split=split, seed=seed)
    events, tap = EventCollector(), _Tap()
    eng = Engine(voice.runner(), voice.vocoder(), config=cfg, sink=events, audio=audio,
                 conversation=ListHistory(), mic_tap=tap)
    res = TrialResult(kind, cfg.duplex, asdict(room) if room is not None else {}, seed)
    clean = None
    try:
        eng.start()
        time.sleep(0.3)  # the devices settle (the canceller sees a little silence first)
        if kind == "turn":
            res.latency_ms = _turn_latency(audio, events, split, seed, timeout_s)
            return res
        eng.submit_turn(np.zeros(VAD_RATE_HZ // 2, np.float32))
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING, timeout_s)
        loud = audio.speaker.loud_times(LOUD)
        first_t = loud[0] if loud else time.monotonic()
        onset_t = None
        if kind != "reply":
            time.sleep(max(0.0, first_t + user_at_s - time.monotonic()))
            if kind == "sentence":  # a sentence, not a one-word reply ("Sure."), which is a backchannel by length
                pool = [x for x in sentences(split, paused=False) if x.kind != "short_reply"]
                text = pool[int(np.random.default_rng(seed + 7).integers(len(pool)))].text
                clean = user_sentence(split=split, seed=seed, rate_hz=audio.in_rate_hz, text=text)
            else:
                clean = backchannel(word, split=split, seed=seed, rate_hz=audio.in_rate_hz)
            rec = audio.mic.inject(clean)
            while rec["start_t"] is None:
                time.sleep(0.005)
            onset_t = rec["start_t"] + int(np.argmax(np.abs(clean) > ONSET_LEVEL)) / audio.in_rate_hz
        end = events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == 1, timeout_s)
        end_t = time.monotonic()
        if kind == "sentence":
            events.wait_for(lambda e: isinstance(e, UserTurnCaptured) and e.turn_id == 2, timeout_s)
        else:
            time.sleep(0.8)  # a self-interruption or a backchannel turned turn would show by now
        loop = eng.capture_loop
        if loop is not None and loop.echo is not None and loop.echo.frames:
            res.aec_ms_per_frame = 1000 * loop.echo.compute_s / loop.echo.frames
            res.realigned = loop.echo.realigned
        res.interrupted = bool(end.interrupted)
        if onset_t is not None:
            loud = [t for t in audio.speaker.loud_times(LOUD) if t >= onset_t]
            res.stop_ms = 1000 * (loud[-1] - onset_t) if loud else 0.0
        if kind == "reply":
            res.erle_db, res.erle_curve_db = erle(tap, first_t, end_t - 0.2)
        turns = [e for e in events.of(UserTurnCaptured) if e.turn_id >= 2]
        res.turns = len(turns)
        if kind == "sentence" and turns and clean is not None:
            clean16 = soxr.resample(clean, audio.in_rate_hz, VAD_RATE_HZ).astype(np.float32)
            res.capture_corr, res.capture_snr_db, res.clipped_ms = compare_capture(turns[0].samples, clean16)
            res.capture_corr_band, res.capture_snr_band_db, _ = compare_capture(turns[0].samples, clean16, BAND_HZ)
            res.capture_onset_corr, res.capture_onset_level_db, _ = compare_capture(turns[0].samples, clean16,
                                                                                    onset=True)
    except AssertionError as err:  # an event never came: the trial failed, the figures say so
        res.error = str(err).splitlines()[0][:300]
    finally:
        eng.stop()
    res.paused, res.resumed = len(events.of(ReplyPaused)), len(events.of(ReplyResumed))
    res.barge_ins = len(events.of(BargeIn))
    res.echo_missing = int(getattr(audio.mic, "echo_missing", 0))
    return res
