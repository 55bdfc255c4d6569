"""Data-construction speech backends: espeak-ng (voice, variant, prosody from emotion and style) and VITS (speaker
id, rate, noise) behind one interface; deterministic output; unknown voices are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.config import SpeechConfig
from core.data.prosody import prosody_for
from core.data.tts import SpeechRequest, load_synth
from models.errors import UserError

TEXT = "I am so sorry to hear that, it sounds really hard."


def _pitch_hz(x: np.ndarray, rate: int) -> float:
    """Median autocorrelation pitch over voiced 40 ms frames (50..400 Hz)."""
    frame, out = int(0.04 * rate), []
    for start in range(0, x.size - frame, frame):
        f = x[start : start + frame] - x[start : start + frame].mean()
        if np.sqrt(np.mean(f**2)) < 0.02:
            continue
        ac = np.correlate(f, f, "full")[frame - 1 :]
        lo, hi = rate // 400, rate // 50
        out.append(rate / (lo + int(np.argmax(ac[lo:hi]))))
    return float(np.median(out))


def test_espeak_voice_emotion_and_style_change_the_speech():
    synth = load_synth(SpeechConfig())
    say = lambda voice, emotion, style="normal": synth.synthesize(SpeechRequest(TEXT, voice, emotion, style))
    sad, rate = say("en-us+f1", "sad")
    sad2, _ = say("en-us+f1", "sad")
    excited, _ = say("en-us+f1", "excited")
    slow, _ = say("en-us+f1", "neutral", "slow")
    fast, _ = say("en-us+f1", "neutral", "fast")
    male, _ = say("en-us+m3", "sad")
    quiet, _ = say("en-us+f1", "neutral", "quiet")
    loud, _ = say("en-us+f1", "neutral", "loud")
    rms = lambda x: float(np.sqrt(np.mean(x**2)))
    assert rms(loud) > 1.5 * rms(quiet)
    assert np.array_equal(sad, sad2)  # deterministic
    assert sad.size > 1.2 * excited.size  # sad is slower
    assert slow.size > 1.3 * fast.size
    assert _pitch_hz(excited, rate) > 1.1 * _pitch_hz(sad, rate)  # excited is higher
    assert _pitch_hz(sad, rate) > 1.2 * _pitch_hz(male, rate)  # female variant above the male one
    for x in (sad, excited, slow, fast, male):
        assert np.mean(np.abs(x) >= 0.999) < 0.001  # loud styles stay below clipping


def test_espeak_unknown_voice_is_a_user_error():
    with pytest.raises(UserError, match="no voice 'xx-nowhere'"):
        load_synth(SpeechConfig(user_voices=("xx-nowhere",)))
    with pytest.raises(UserError, match="no variant 'nobody'"):
        load_synth(SpeechConfig(assistant_voice="en-us+nobody"))


def test_prosody_table_combines_emotion_and_style():
    p = prosody_for("sad", "fast")
    assert p.rate == pytest.approx(prosody_for("sad").rate * 1.25)
    assert prosody_for("no-such-label") == prosody_for("neutral")


def test_vits_backend_speaker_rate_and_determinism(tmp_path):
    from core.data.tts_vits import make_tiny_vits

    path = make_tiny_vits(tmp_path / "vits", num_speakers=4)
    synth = load_synth(SpeechConfig(backend="vits", checkpoint=str(path), user_voices=("speaker:1", "speaker:2"),
                                    assistant_voice="speaker:0"))
    say = lambda voice, emotion, style="normal": synth.synthesize(SpeechRequest("hello there my friend", voice,
                                                                               emotion, style))
    a, rate = say("speaker:1", "neutral")
    assert rate == 16_000 and a.dtype == np.float32 and a.size > 0
    assert np.array_equal(a, say("speaker:1", "neutral")[0])  # noise fixed per request
    b = say("speaker:2", "neutral")[0]
    n = min(a.size, b.size)
    assert not np.allclose(a[:n], b[:n], atol=1e-4)  # the speaker embedding reaches the waveform
    slow = say("speaker:1", "neutral", "slow")[0]
    fast = say("speaker:1", "neutral", "fast")[0]
    assert slow.size > 1.3 * fast.size  # same noise (same text and voice), rate 0.78 vs 1.25
    with pytest.raises(UserError, match="speaker:0..speaker:3"):
        synth.check_voice("speaker:7")
