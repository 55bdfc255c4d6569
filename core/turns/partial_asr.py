"""Streaming partial transcript over pocketsphinx, for the text end-of-utterance signal while the user speaks.

pocketsphinx (BSD-2) ships a US English model in its wheel (`pocketsphinx/model/en-us/`: acoustic model,
`en-us.lm.bin`, `cmudict-en-us.dict`); those files are used by path, found through the installed package, never
downloaded. It decodes 16 kHz int16 incrementally; the hypothesis so far is available at any time.

- `SphinxPartialTranscript`: the synchronous recognizer (offline simulation, tests): `start()` at a turn's start,
  `feed(frame)` per 32 ms VAD frame, `text()` the hypothesis so far (lower-case words, fillers dropped).
- `ThreadedPartialTranscript`: the live form. `feed` only copies the frame into a bounded queue (a full queue
  drops the frame and counts it); one worker thread decodes and publishes the hypothesis, which `text()` reads
  without waiting. The capture thread never waits for the decoder.
- `StreamingTextSignal`: callable(at_s) -> P(utterance over) for `core.turns.offline.simulate_turns`: feeds a
  recording's frames in order up to `at_s` and asks `LexicalEndOfUtterance` about the hypothesis.

pocketsphinx's noise dictionary makes "um", "uh" and "hmm" fillers, so the hypothesis never contains them.
"""

from __future__ import annotations

import collections
import importlib.util
import logging
import queue
import re
import threading
import time
from pathlib import Path

import numpy as np

from core.turns.config import VAD_FRAME, VAD_RATE_HZ, VadConfig
from core.turns.text_eou import UNFINISHED_P, LexicalEndOfUtterance, TextEndOfUtterance

log = logging.getLogger(__name__)

QUEUE_FRAMES = 256  # live: 8 s of 32 ms frames waiting for the decoder before frames are dropped
_FILLER = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+)$")  # <sil>, [NOISE], ++UM++
_ALTERNATE = re.compile(r"\(\d+\)$")  # read(2): the dictionary's second pronunciation


class SphinxUnavailable(RuntimeError):
    """pocketsphinx or its shipped model cannot be used; the message is the "off — reason" a user sees."""


def find_model() -> dict[str, Path]:
    """The shipped en-us model files inside the installed pocketsphinx package: {"hmm", "lm", "dict"}."""
    spec = importlib.util.find_spec("pocketsphinx")
    if spec is None or spec.origin is None:
        raise SphinxUnavailable("pocketsphinx is not installed (pip install pocketsphinx)")
    root = Path(spec.origin).parent / "model" / "en-us"
    files = {"hmm": root / "en-us", "lm": root / "en-us.lm.bin", "dict": root / "cmudict-en-us.dict"}
    missing = [p.name for p in files.values() if not p.exists()]
    if missing:
        raise SphinxUnavailable(f"the installed pocketsphinx lacks its en-us model ({', '.join(missing)} missing "
                                f"under {root}); reinstall pocketsphinx")
    return files


def clean_words(words: list[str]) -> str:
    """Decoder words -> lower-case text: fillers (<sil>, [NOISE]) dropped, pronunciation variants unmarked."""
    return " ".join(_ALTERNATE.sub("", w).lower() for w in words if w and not _FILLER.match(w))


def to_int16(frame: np.ndarray) -> np.ndarray:
    """[n] float32 in [-1, 1] -> [n] int16 (what the decoder takes)."""
    return (np.clip(np.asarray(frame, np.float32).reshape(-1), -1.0, 1.0) * 32767.0).astype(np.int16)


class SphinxPartialTranscript:
    """Synchronous streaming recognizer; one caller at a time. `compute_s`: decoding time of `feed`, `text_s`:
    time spent in `text()`. The decoder normalises its features by a running cepstral mean (the microphone's
    colour): `carry_cmn=True` (live) carries it from turn to turn; False (offline) starts every turn from the
    model's initial mean, so a clip's transcript does not depend on the clips decoded before it."""

    def __init__(self, carry_cmn: bool = True) -> None:
        files = find_model()
        try:
            import pocketsphinx

            self._decoder = pocketsphinx.Decoder(hmm=str(files["hmm"]), lm=str(files["lm"]), dict=str(files["dict"]),
                                                 samprate=VAD_RATE_HZ, loglevel="FATAL")
        except (ImportError, RuntimeError, ValueError) as err:
            raise SphinxUnavailable(f"cannot load pocketsphinx's en-us model: {err}") from None
        self.version = _version("pocketsphinx")
        self._initial_cmn = None if carry_cmn else self._decoder.get_cmn(False)
        self._in_utterance = False
        self.compute_s = self.text_s = 0.0
        self.frames = self.text_calls = 0

    def start(self) -> None:
        """A new turn: forget the hypothesis and start decoding afresh."""
        self.stop()
        if self._initial_cmn is not None:
            self._decoder.set_cmn(self._initial_cmn)
        self._decoder.start_utt()
        self._in_utterance = True

    reset = start

    def stop(self) -> None:
        if self._in_utterance:
            self._decoder.end_utt()
            self._in_utterance = False

    def feed(self, frame: np.ndarray) -> None:
        """frame: [n] float32 16 kHz (a 512-sample VAD frame). Starts an utterance if none is open."""
        t0 = time.perf_counter()
        if not self._in_utterance:
            self.start()
        self._decoder.process_raw(to_int16(frame).tobytes(), False, False)
        self.compute_s += time.perf_counter() - t0
        self.frames += 1

    def text(self) -> str:
        """The hypothesis so far ("" before any word)."""
        t0 = time.perf_counter()
        hyp = self._decoder.hyp() if self._in_utterance else None
        text = clean_words(hyp.hypstr.split()) if hyp is not None else ""
        self.text_s += time.perf_counter() - t0
        self.text_calls += 1
        return text


def _version(dist: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def load_sphinx(carry_cmn: bool = True) -> tuple[SphinxPartialTranscript | None, str]:
    """(recognizer, "on — ...") or (None, "off — reason"): without it the text signal needs another transcript."""
    try:
        rec = SphinxPartialTranscript(carry_cmn)
    except SphinxUnavailable as err:
        log.warning("pocketsphinx partial transcript off: %s", err)
        return None, f"off — {err}"
    return rec, f"on — pocketsphinx {rec.version} (en-us model shipped in its wheel)"


_CLOSE = object()


class ThreadedPartialTranscript:
    """The live form: `feed` never blocks (bounded queue, `dropped` counts what did not fit), `text()` returns the
    latest published hypothesis of the current turn without waiting. `start()` opens a new turn: frames queued
    for an earlier turn are skipped, and its hypothesis is "" until the worker has decoded the new turn's frames."""

    def __init__(self, recognizer, max_frames: int = QUEUE_FRAMES) -> None:
        self._rec = recognizer
        self._queue: queue.Queue = queue.Queue(maxsize=max_frames)
        self._lock = threading.Lock()
        self._turn = 0  # frames carry the turn they belong to
        self._text = ""
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="partial-asr", daemon=True)
        self._thread.start()

    @property
    def compute_s(self) -> float:
        return self._rec.compute_s

    def start(self) -> None:
        with self._lock:
            self._turn += 1
            self._text = ""

    reset = start

    def stop(self) -> None:
        """The turn ended: its queued frames are skipped and the hypothesis is cleared."""
        self.start()

    def feed(self, frame: np.ndarray) -> None:
        """frame: [n] float32 16 kHz; copied, never waits."""
        try:
            self._queue.put_nowait((self._turn, np.array(frame, np.float32, copy=True)))
        except queue.Full:
            self.dropped += 1

    def text(self) -> str:
        return self._text

    def close(self, timeout_s: float = 2.0) -> None:
        self.start()
        while True:  # make room for the close mark: what is queued is stale now
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        try:
            self._queue.put(_CLOSE, timeout=timeout_s)
        except queue.Full:
            log.warning("partial transcript worker did not take the close mark")
            return
        self._thread.join(timeout_s)

    def _run(self) -> None:
        decoding = 0
        while True:
            item = self._queue.get()
            if item is _CLOSE:
                self._rec.stop()
                return
            turn, frame = item
            if turn != self._turn:
                continue  # a turn that has ended (or been reset)
            if turn != decoding:
                self._rec.start()
                decoding = turn
            try:
                self._rec.feed(frame)
                text = self._rec.text() if self._queue.empty() else None
            except Exception:  # never let one bad frame end the worker
                log.exception("partial transcript: decoding a frame failed")
                continue
            if text is not None:
                with self._lock:
                    if turn == self._turn:
                        self._text = text


class StreamingTextSignal:
    """callable(at_s) -> P(utterance over) | None (no words yet): the recording's frames are fed to `recognizer`
    in order up to `at_s` (calls must come in time order); the lexical signal judges the hypothesis.

    `vad=None`: the whole recording is one utterance. With a VAD (e.g. `SileroVad()`), turns are followed as the
    window does live: decoding starts at the VAD's speech start with `pre_roll_ms` of audio before it, and a
    silence of `reset_after_ms` ends it (the next speech is a new utterance). The window resets at each turn the
    detector decides; offline that decision is not visible here, so `reset_after_ms` should be the longest
    silence a turn can hold (EndOfTurnConfig.max_silence_ms). Past the recording's end the frames are silence.
    `unfinished_only`: the signal speaks only when the text is unfinished (None otherwise): a recognizer writes no
    sentence marks, so its text is never "finished", only "undecided" at best."""

    def __init__(self, samples_16k: np.ndarray, recognizer, vad=None, vad_config: VadConfig | None = None,
                 reset_after_ms: float | None = None, text_eou: TextEndOfUtterance | None = None,
                 unfinished_only: bool = False) -> None:
        if (vad is None) != (reset_after_ms is None):
            raise ValueError("StreamingTextSignal: a vad and reset_after_ms go together")
        self._x = np.asarray(samples_16k, np.float32).reshape(-1)  # [N] float32 16 kHz
        self._rec, self._vad = recognizer, vad
        self._vcfg = vad_config or VadConfig()
        self._eou = text_eou or LexicalEndOfUtterance()
        self._unfinished_only = unfinished_only
        self._next = 0  # frames fed so far
        self._reset_frames = self._vcfg.frames(reset_after_ms) if reset_after_ms is not None else 0
        self._preroll: collections.deque[np.ndarray] = collections.deque(
            maxlen=max(1, self._vcfg.frames(self._vcfg.pre_roll_ms)))
        self._active, self._silence = vad is None, 0
        self.texts: list[tuple[float, str]] = []  # (at_s, hypothesis) of every call
        if vad is not None:
            vad.reset()
        else:
            recognizer.start()

    def frame(self, k: int) -> np.ndarray:
        """[512] float32: frame k of the recording, zero-padded past its end."""
        f = self._x[k * VAD_FRAME:(k + 1) * VAD_FRAME]
        return f if f.size == VAD_FRAME else np.pad(f, (0, VAD_FRAME - f.size))

    def advance(self, at_s: float) -> None:
        """Feed every frame that has arrived by `at_s` (frame k arrives at (k + 1) x 32 ms)."""
        target = int(round(at_s * VAD_RATE_HZ / VAD_FRAME))
        while self._next < target:
            self._step(self.frame(self._next))
            self._next += 1

    def text(self, at_s: float) -> str:
        self.advance(at_s)
        text = self._rec.text()
        self.texts.append((at_s, text))
        return text

    def __call__(self, at_s: float) -> float | None:
        text = self.text(at_s)
        prob = self._eou.prob(text) if text else None
        return None if self._unfinished_only and prob is not None and prob > UNFINISHED_P else prob

    def _step(self, frame: np.ndarray) -> None:
        if self._vad is None:
            self._rec.feed(frame)
            return
        prob = self._vad.prob(frame)
        if not self._active:
            if prob < self._vcfg.start_threshold:
                self._preroll.append(frame)
                return
            self._rec.start()
            for f in self._preroll:
                self._rec.feed(f)
            self._preroll.clear()
            self._active, self._silence = True, 0
        self._rec.feed(frame)
        self._silence = self._silence + 1 if prob < self._vcfg.stop_threshold else 0
        if self._silence >= self._reset_frames:
            self._active = False  # the hypothesis stays readable until the next speech starts
