"""User audio: any common file becomes 16 kHz mono; unusable audio gets a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from core.audio.clips import MODEL_RATE_HZ, clip_features, load_audio_file, validate_clip
from models.errors import AudioInputError
from tests.helpers import synthetic_clip


def _write(path, samples, rate, **kw):
    sf.write(str(path), samples, rate, **kw)
    return path


def test_stereo_8k_flac_ogg_become_16k_mono(tmp_path):
    clip = synthetic_clip(1.0)
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    stereo = np.stack([tone, tone], axis=1)
    out = load_audio_file(_write(tmp_path / "a.wav", stereo, 8000))
    assert out.dtype == np.float32 and out.ndim == 1 and out.size == MODEL_RATE_HZ
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * MODEL_RATE_HZ / out.size - 440) < 2  # pitch kept by the real resampler
    assert load_audio_file(_write(tmp_path / "a.flac", clip, 16000)).size == clip.size
    ogg = load_audio_file(_write(tmp_path / "a.ogg", clip, 16000, format="OGG", subtype="VORBIS"))
    assert abs(ogg.size - clip.size) < 1000


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        (np.zeros(0, np.float32), "empty"),
        (np.zeros(16000, np.float32), "silent"),
        (np.full(16000, np.nan, np.float32), "NaN"),
        (np.full(160, 0.5, np.float32), "at least"),
        (np.full(16000 * 601, 0.1, np.float32), "split it"),
    ],
    ids=["empty", "silent", "nan", "too-short", "too-long"],
)
def test_unusable_clips(samples, message):
    with pytest.raises(AudioInputError, match=message):
        validate_clip(samples)


def test_unreadable_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF nonsense")
    with pytest.raises(AudioInputError, match="not a readable audio file"):
        load_audio_file(bad)
    with pytest.raises(AudioInputError, match="not found"):
        load_audio_file(tmp_path / "missing.wav")


def test_features_pad_to_whole_windows(tiny_runner):
    fe = tiny_runner.ckpt.feature_extractor
    short = clip_features(synthetic_clip(2.0), fe)
    assert short.features.shape == (128, 3000) and short.valid_frames == 200
    long = clip_features(synthetic_clip(45.0), fe)
    assert long.features.shape == (128, 6000) and long.valid_frames == 4500
