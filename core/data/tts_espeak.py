"""espeak-ng backend: voice (language) + variant as the speaker; emotion and style through SSML prosody
(rate, pitch, pitch range, volume). Always available offline; formant speech, no real emotion timbre."""

from __future__ import annotations

import functools
import io
import logging
import shutil
import subprocess
from xml.sax.saxutils import escape

import numpy as np
import soundfile as sf

from core.data.prosody import prosody_for
from core.data.tts import SpeechRequest
from models.errors import UserError

log = logging.getLogger(__name__)

BASE_RATE_PERCENT = 100
BASE_VOLUME = 0.8  # headroom: espeak-ng at its default amplitude already peaks near full scale on some voices
MAX_VOLUME = 1.25  # loud + angry would otherwise clip
TIMEOUT_S = 60


class EspeakSynth:
    name = "espeak-ng"
    controls = ("speaker (voice+variant)", "rate", "pitch", "pitch range", "volume")

    def __init__(self, binary: str = "espeak-ng") -> None:
        path = shutil.which(binary)
        if path is None:
            raise UserError("espeak-ng is not installed (apt-get install espeak-ng)")
        self.binary = path

    def check_voice(self, voice: str) -> None:
        language, _, variant = voice.partition("+")
        languages, variants = _voice_names(self.binary)
        if language not in languages:
            raise UserError(f"speech voice {voice!r}: espeak-ng has no voice {language!r} (see espeak-ng --voices)")
        if variant and variant not in variants:
            raise UserError(f"speech voice {voice!r}: espeak-ng has no variant {variant!r} "
                            "(see espeak-ng --voices=variant)")

    def synthesize(self, request: SpeechRequest) -> tuple[np.ndarray, int]:
        p = prosody_for(request.emotion, request.style)
        volume = BASE_VOLUME * min(p.volume, MAX_VOLUME)
        ssml = (
            f'<speak><prosody rate="{round(BASE_RATE_PERCENT * p.rate)}%" pitch="{_percent(p.pitch)}" '
            f'range="{_percent(p.pitch_range)}" volume="{_percent(volume)}">{escape(request.text)}</prosody></speak>'
        )
        cmd = [self.binary, "-m", "-v", request.voice, "--stdout", "--stdin"]
        proc = subprocess.run(cmd, input=ssml.encode("utf-8"), capture_output=True, timeout=TIMEOUT_S, check=False)
        if proc.returncode != 0 or not proc.stdout:
            raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[:200]}")
        # espeak-ng streams a WAV whose header sizes are unset; parse it as raw 16-bit PCM after the header
        samples, rate = _read_stream_wav(proc.stdout)
        return samples, rate


def _percent(factor: float) -> str:
    return f"{round((factor - 1) * 100):+d}%"


def _read_stream_wav(data: bytes) -> tuple[np.ndarray, int]:
    try:
        x, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        return x[:, 0].copy(), int(rate)
    except (RuntimeError, sf.LibsndfileError):
        rate = int.from_bytes(data[24:28], "little")
        pcm = np.frombuffer(data[44 : 44 + (len(data) - 44) // 2 * 2], dtype="<i2")
        return (pcm.astype(np.float32) / 32768.0), rate


@functools.lru_cache(maxsize=4)
def _voice_names(binary: str) -> tuple[frozenset[str], frozenset[str]]:
    def table(arg: str) -> list[list[str]]:
        out = subprocess.run([binary, arg], capture_output=True, text=True, timeout=TIMEOUT_S, check=True).stdout
        return [line.split() for line in out.splitlines()[1:] if line.strip()]

    languages = set()
    for row in table("--voices"):
        languages.add(row[1])  # language code, e.g. en-us
        languages.add(row[4].split("/")[-1])  # voice file name, e.g. en-US
    variants = {row[4].split("/")[-1] for row in table("--voices=variant")}
    variants |= {v.lower() for v in variants}
    return frozenset(languages), frozenset(variants)
