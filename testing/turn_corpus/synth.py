"""Clean speech from espeak-ng and flite at 16 kHz, with the paused sentences' pause set to an exact length.

Every signal here is [N] float32 16 kHz mono. The pause is a run of exact zeros: espeak-ng puts it where SSML
`<break>` asks; flite has no such control here, so the whole sentence is synthesized, the first part alone tells
(by its phones, `flite -psdur`) where it ends inside the sentence, and the pause goes in at the quietest 20 ms frame
near that point. In both cases the run of samples below FLOOR around that point becomes exactly `pause_ms` of zeros.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import soundfile as sf
import soxr

from models.errors import UserError

log = logging.getLogger(__name__)

RATE_HZ = 16000
FLOOR = 1e-3  # |sample| below this (after the level is set) is silence: speech start/end and pauses are measured on it
FRAME_S = 0.02  # the flite pause goes in at the quietest frame of this length ...
SEARCH_S = 0.02  # ... whose centre lies within this of where the first part ends (its last phone's end)
TAIL_GATE_DB = -45.0  # flite: the sound after the last phone ends where its 10 ms level falls below this re peak
FADE_OUT_S, FADE_IN_S = 0.02, 0.005  # a cut inside sound fades out before it and in after it over these


def version(program: str) -> str:
    """The program's version line (part of the corpus's cache key); a missing program is a UserError."""
    try:
        out = subprocess.run([program, "--version"], capture_output=True, text=True).stdout  # flite exits 1
    except FileNotFoundError:
        raise UserError(f"{program} is not installed; the turn corpus needs it: apt-get install {program} "
                        "(or bash .ci/install as root)") from None
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    return " | ".join(lines)


def _read_16k(path: Path) -> np.ndarray:
    x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    x = x[:, 0]
    if rate != RATE_HZ:
        x = soxr.resample(x, rate, RATE_HZ)
    return np.asarray(x, dtype=np.float32)


def espeak_raw(voice: str, rate_wpm: int, pitch: int, parts: tuple[str, ...], pause_ms: int) -> np.ndarray:
    """espeak-ng -m: the parts joined by `<break time='pause_ms ms'/>` -> [N] float32 16 kHz (level as made)."""
    ssml = f" <break time='{pause_ms}ms'/> ".join(escape(p) for p in parts)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-m", "-v", voice, "-s", str(rate_wpm), "-p", str(pitch), "-w", str(path),
                        f"<speak>{ssml}</speak>"], check=True, capture_output=True)
        return _read_16k(path)


def _flite(voice: str, stretch: float, f0_hz: int | None, text: str, tmp: Path) -> tuple[np.ndarray, list]:
    """One flite call -> ([N] float32 16 kHz, [(phone, end_s)] from -psdur)."""
    path = tmp / "f.wav"
    cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch}"]
    if f0_hz is not None:
        cmd += ["--setf", f"int_f0_target_mean={f0_hz}"]
    out = subprocess.run(cmd + ["-psdur", "-t", text, "-o", str(path)], check=True, capture_output=True,
                         text=True).stdout
    phones = []
    for item in out.split():
        name, _, end = item.rpartition(":")
        if name:
            phones.append((name, float(end)))
    return _read_16k(path), phones


def _spoken(phones: list) -> list:
    return [(p, t) for p, t in phones if p != "pau"]


def _silence_the_edges(x: np.ndarray, phones: list) -> np.ndarray:
    """Zero flite's leading `pau` and its trailing one from where the sound has died down (the first 10 ms window
    after the last phone's end below TAIL_GATE_DB re the peak): its clustergen voices leave low-level noise there
    (-54 to -77 dB re peak, measured), which an amplitude floor would count as speech. (A voice's final sound can
    outlast its last phone's end by 30 ms or more, so the trailing cut waits for the level to fall.)"""
    said = _spoken(phones)
    if not said:
        return x
    x = x.copy()
    x[:int(round(phones[0][1] * RATE_HZ)) if phones[0][0] == "pau" else 0] = 0.0
    gate = float(np.abs(x).max()) * 10 ** (TAIL_GATE_DB / 20)
    window = RATE_HZ // 100
    for i in range(int(round(said[-1][1] * RATE_HZ)), x.size, window):
        if np.sqrt(np.mean(x[i:i + window] ** 2)) < gate:
            x[i:] = 0.0
            break
    return x


def flite_raw(voice: str, stretch: float, f0_hz: int | None, parts: tuple[str, ...]) -> tuple[np.ndarray, int | None]:
    """flite -> ([N] float32 16 kHz, the sample index where the first part ends, or None for one part)."""
    with tempfile.TemporaryDirectory() as tmp:
        whole, phones = _flite(voice, stretch, f0_hz, " ".join(parts), Path(tmp))
        whole = _silence_the_edges(whole, phones)
        if len(parts) == 1:
            return whole, None
        first, first_phones = _flite(voice, stretch, f0_hz, parts[0], Path(tmp))
    said, in_whole = _spoken(first_phones), _spoken(phones)
    k = len(said)
    if [p for p, _ in in_whole[:k]] == [p for p, _ in said] and k < len(in_whole):
        end_s = in_whole[k - 1][1]  # the first part's last phone ends here inside the whole sentence
    else:  # the phones changed at the join: fall back to the first part's own length
        end_s = said[-1][1] if said else first.size / RATE_HZ
        log.debug("flite %s: phones differ at the join of %r; pause placed by the first part's length", voice,
                  parts[0])
    return whole, _quietest_frame(whole, int(round(end_s * RATE_HZ)))


def _quietest_frame(x: np.ndarray, near: int) -> int:
    """The centre of the quietest FRAME_S frame (5 ms hop) whose centre lies within SEARCH_S of `near`."""
    frame, hop, reach = int(FRAME_S * RATE_HZ), RATE_HZ // 200, int(SEARCH_S * RATE_HZ)
    centres = np.arange(max(frame // 2, near - reach), min(x.size - frame // 2, near + reach) + 1, hop)
    if centres.size == 0:
        return min(max(near, 0), x.size - 1)
    energy = [float(np.mean(x[c - frame // 2:c + frame // 2] ** 2)) for c in centres]
    return int(centres[int(np.argmin(energy))])


def set_level(x: np.ndarray, peak: float) -> np.ndarray:
    top = float(np.abs(x).max())
    if top <= 0:
        raise UserError("the synthesizer produced silence; check its installation (espeak-ng / flite)")
    return (x * (peak / top)).astype(np.float32)


def silent_run(x: np.ndarray, at: int) -> tuple[int, int]:
    """The maximal run [start, end) of |x| < FLOOR containing index `at` (empty at `at` when x[at] is loud)."""
    quiet = np.abs(x) < FLOOR
    if not quiet[at]:
        return at, at
    loud = np.flatnonzero(~quiet)
    before, after = loud[loud < at], loud[loud > at]
    return (int(before[-1]) + 1 if before.size else 0), (int(after[0]) if after.size else x.size)


def longest_inner_run(x: np.ndarray) -> tuple[int, int]:
    """The longest run of |x| < FLOOR between the first and the last loud sample: [start, end)."""
    loud = np.flatnonzero(np.abs(x) >= FLOOR)
    gaps = np.diff(loud)
    i = int(np.argmax(gaps))
    return int(loud[i]) + 1, int(loud[i + 1])


def put_pause(x: np.ndarray, at: int, pause_ms: int) -> tuple[np.ndarray, int]:
    """Fade out/in around `at` (a cut inside sound does not click), then make the silent run there exactly
    `pause_ms` of zeros -> (new signal, the pause's first sample)."""
    x = x.copy()
    lo, hi = max(at - int(FADE_OUT_S * RATE_HZ), 0), min(at + int(FADE_IN_S * RATE_HZ), x.size)
    x[lo:at] *= np.linspace(1.0, 0.0, at - lo, dtype=np.float32)
    x[at:hi] *= np.linspace(0.0, 1.0, hi - at, dtype=np.float32)
    start, end = silent_run(x, at)
    pause = np.zeros(int(round(pause_ms * RATE_HZ / 1000)), dtype=np.float32)
    return np.concatenate([x[:start], pause, x[end:]]), start


def trim(x: np.ndarray) -> tuple[np.ndarray, int]:
    """x from its first to its last sample at or above FLOOR -> (trimmed, samples cut at the front)."""
    loud = np.flatnonzero(np.abs(x) >= FLOOR)
    return x[loud[0]:loud[-1] + 1], int(loud[0])
