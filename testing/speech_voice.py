"""A stand-in voice that speaks: replies are real synthetic speech (espeak-ng or flite, one sentence each), played
through the app's normal path (runner -> units -> vocoder chunks -> jitter buffer -> speaker). Duplex tests need
it: random-weight vocoders and the sine vocoder make sounds silero-vad does not take for speech, so their echo
cannot show the app interrupting itself. Also the user's side: sentences and backchannels at a chosen level.

Voices and texts come from testing.turn_corpus (its train / held-out splits of voices and sentences), each clip
synthesized once per process (cached).

How a reply is carried: the runner (`SpeechRunner`) picks the next reply clip and emits one TextDelta (its text)
and the units `clip * SEGMENTS_PER_CLIP + k` for k = 0.. (one unit = 80 ms of the clip, 1764 samples at the
vocoder's 22050 Hz, as the real decoder's 12.5 units/s); the vocoder (`SpeechVocoder`) maps each unit back to its
segment. Stateless, so speculative replies, cancels and out-of-order streams cannot mix clips up.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterable

import numpy as np
import soxr

from core.lm.events import SpeechUnits, StopReason, TextDelta, TurnEnd
from models.glm_constants import SAMPLE_RATE_HZ, UNIT_RATE_HZ
from testing.fake_audio import FAKE_INPUT_RATE_HZ
from testing.room import REPLY_RMS, scaled_to
from testing.turn_corpus import synth
from testing.turn_corpus.sentences import sentences
from testing.turn_corpus.voices import (
    ESPEAK,
    ESPEAK_PITCH,
    ESPEAK_RATE_WPM,
    FLITE_F0_FACTOR,
    FLITE_STRETCH,
    Voice,
    voices,
)

log = logging.getLogger(__name__)

SAMPLES_PER_UNIT = int(SAMPLE_RATE_HZ / UNIT_RATE_HZ)  # 1764: 80 ms at 22050 Hz
SEGMENTS_PER_CLIP = 1000  # unit = clip * this + segment: clips up to 80 s, up to 16 clips (units < 16384)
UNITS_PER_STEP = 5  # units per SpeechUnits event (one decode step)
BACKCHANNELS = {  # word -> (espeak-ng input, flite input): spellings each says as a backchannel
    "mm-hm": ("uh hum", "uh hum"),  # espeak-ng spells 'mm-hm' out ("em em"); this says it
    "uh-huh": ("uh-huh", "uh huh"),
    "yeah": ("yeah", "yeah"),
    "okay": ("okay", "okay"),
}
BACKCHANNEL_MAX_S = 0.6


def pick_voice(split: str, seed: int, synth_name: str | None = None) -> Voice:
    """A voice of the split (and synthesizer, else either), chosen by seed."""
    rng = np.random.default_rng(seed)
    pool = voices(split, synth_name) if synth_name else voices(split, ESPEAK) + voices(split, "flite")
    return pool[int(rng.integers(len(pool)))]


@functools.lru_cache(maxsize=256)
def _speak_16k(voice: Voice, text: str, seed: int, fast: bool = False) -> np.ndarray:
    """[N] float32 16 kHz, trimmed to its first and last sound; rate and pitch drawn by seed over the corpus's
    ranges (fast: the quickest rate, for backchannels)."""
    rng = np.random.default_rng(seed)
    if voice.synth == ESPEAK:
        wpm = ESPEAK_RATE_WPM[1] if fast else int(rng.integers(ESPEAK_RATE_WPM[0], ESPEAK_RATE_WPM[1] + 1))
        x = synth.espeak_raw(voice.name, wpm, int(rng.integers(ESPEAK_PITCH[0], ESPEAK_PITCH[1] + 1)), (text,), 0)
    else:
        stretch = FLITE_STRETCH[0] if fast else float(rng.uniform(*FLITE_STRETCH))
        f0 = None if voice.f0_hz is None else int(voice.f0_hz * rng.uniform(*FLITE_F0_FACTOR))
        x, _ = synth.flite_raw(voice.name, stretch, f0, (text,))
    x, _ = synth.trim(synth.set_level(x, 0.5))
    return x


def user_sentence(split: str = "train", seed: int = 0, speech_rms: float = 0.05, rate_hz: int = FAKE_INPUT_RATE_HZ,
                  text: str | None = None, voice: Voice | None = None) -> np.ndarray:
    """[N] float32 at rate_hz: one complete sentence of the split (or `text`) in a voice of the split (or `voice`),
    chosen by seed, scaled to `speech_rms` (active RMS: the user's level at the mic, RoomConfig.speech_rms)."""
    rng = np.random.default_rng(seed)
    if text is None:
        pool = sentences(split, paused=False)
        text = pool[int(rng.integers(len(pool)))].text
    voice = voice or pick_voice(split, seed + 1)
    x = soxr.resample(_speak_16k(voice, text, seed), synth.RATE_HZ, rate_hz)
    return scaled_to(x, speech_rms, rate_hz)


def backchannel(word: str = "mm-hm", split: str = "train", seed: int = 0, speech_rms: float = 0.05,
                rate_hz: int = FAKE_INPUT_RATE_HZ, voice: Voice | None = None) -> np.ndarray:
    """[N] float32 at rate_hz: a short backchannel (BACKCHANNELS: mm-hm, uh-huh, yeah, okay), under
    BACKCHANNEL_MAX_S of sound (longer is cut with a 20 ms fade), scaled to `speech_rms`."""
    if word not in BACKCHANNELS:
        raise ValueError(f"backchannel must be one of {sorted(BACKCHANNELS)}, got {word!r}")
    voice = voice or pick_voice(split, seed + 1)
    text = BACKCHANNELS[word][0 if voice.synth == ESPEAK else 1]
    x = _speak_16k(voice, text, seed, fast=True)
    cap = int(BACKCHANNEL_MAX_S * synth.RATE_HZ)
    if x.size > cap:
        fade = synth.RATE_HZ // 50
        x = x[:cap].copy()
        x[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    x = soxr.resample(x, synth.RATE_HZ, rate_hz)
    return scaled_to(x, speech_rms, rate_hz)


# -- the reply side ------------------------------------------------------------------------------------------------
class SpeechVoice:
    """The assistant's replies: `texts` said by one voice, at the app's normal level (active RMS REPLY_RMS).
    `runner()` and `vocoder()` are the engine's ModelRunner / VoiceSynthesizer seams over them."""

    def __init__(self, texts: Iterable[str] | None = None, split: str = "train", seed: int = 0,
                 voice: Voice | None = None, n_replies: int = 4) -> None:
        if texts is None:
            pool = sentences(split, paused=False)
            rng = np.random.default_rng(seed + 17)
            texts = [pool[int(i)].text for i in rng.choice(len(pool), size=min(n_replies, len(pool)), replace=False)]
        self.texts = list(texts)
        if not 1 <= len(self.texts) <= 16384 // SEGMENTS_PER_CLIP:
            raise ValueError(f"1 to {16384 // SEGMENTS_PER_CLIP} reply texts, got {len(self.texts)}")
        self.voice = voice or pick_voice(split, seed + 2)
        self.clips = [scaled_to(soxr.resample(_speak_16k(self.voice, t, seed + i), synth.RATE_HZ, SAMPLE_RATE_HZ),
                                REPLY_RMS, SAMPLE_RATE_HZ) for i, t in enumerate(self.texts)]  # [N] at 22050 Hz
        for c in self.clips:
            if c.size > SEGMENTS_PER_CLIP * SAMPLES_PER_UNIT:
                raise ValueError("a reply clip is longer than 80 s")

    def runner(self, step_s: float = 0.01) -> SpeechRunner:
        return SpeechRunner(self, step_s)

    def vocoder(self) -> SpeechVocoder:
        return SpeechVocoder(self)

    def segment(self, unit: int) -> np.ndarray:
        """[SAMPLES_PER_UNIT] float32 of the clip a unit names (zeros past its end)."""
        clip = self.clips[(unit // SEGMENTS_PER_CLIP) % len(self.clips)]
        k = (unit % SEGMENTS_PER_CLIP) * SAMPLES_PER_UNIT
        out = np.zeros(SAMPLES_PER_UNIT, np.float32)
        piece = clip[k : k + SAMPLES_PER_UNIT]
        out[: piece.size] = piece
        return out


class SpeechReplyStream:
    """One reply: TextDelta(text), then the clip's units UNITS_PER_STEP per step (step_s apart), then TurnEnd."""

    def __init__(self, voice: SpeechVoice, clip: int, step_s: float) -> None:
        self._voice, self.clip, self._step_s = voice, clip, step_s
        self._cancel = threading.Event()
        self.cancelled_t: float | None = None

    def cancel(self) -> None:
        if self.cancelled_t is None:
            self.cancelled_t = time.monotonic()
        self._cancel.set()

    def __iter__(self):
        text = self._voice.texts[self.clip]
        n = -(-self._voice.clips[self.clip].size // SAMPLES_PER_UNIT)
        units = [self.clip * SEGMENTS_PER_CLIP + k for k in range(n)]
        sent_text, sent = False, 0
        while not self._cancel.wait(self._step_s):
            if not sent_text:
                sent_text = True
                yield TextDelta(text, (1,))
                continue
            if sent >= n:
                break
            yield SpeechUnits(tuple(units[sent : sent + UNITS_PER_STEP]))
            sent = min(sent + UNITS_PER_STEP, n)
        reason = StopReason.CANCELLED if self._cancel.is_set() else StopReason.EOS
        yield TurnEnd(reason, text if sent_text else "", int(sent_text), sent)


class SpeechRunner:
    """ModelRunner: each `reply()` says the voice's next text (in turn, cycling)."""

    def __init__(self, voice: SpeechVoice, step_s: float = 0.01) -> None:
        self._voice, self._step_s = voice, step_s
        self._lock = threading.Lock()
        self.streams: list[SpeechReplyStream] = []

    def reply(self, conversation: object, sampling: object = None) -> SpeechReplyStream:
        with self._lock:
            s = SpeechReplyStream(self._voice, len(self.streams) % len(self._voice.clips), self._step_s)
            self.streams.append(s)
        return s


class SpeechVocoderStream:
    def __init__(self, voice: SpeechVoice) -> None:
        self._voice = voice
        self._cancel = threading.Event()

    def push(self, units: Iterable[int]) -> list[np.ndarray]:
        units = list(units)
        if self._cancel.is_set() or not units:
            return []
        return [np.concatenate([self._voice.segment(u) for u in units])]

    def flush(self) -> list[np.ndarray]:
        return []

    def cancel(self) -> None:
        self._cancel.set()


class SpeechVocoder:
    """VoiceSynthesizer at the real decoder's rate (22050 Hz): units -> their clip segments."""

    sample_rate_hz = SAMPLE_RATE_HZ

    def __init__(self, voice: SpeechVoice) -> None:
        self._voice = voice

    def open_stream(self, schedule: object = None, generator: object = None) -> SpeechVocoderStream:
        return SpeechVocoderStream(self._voice)
