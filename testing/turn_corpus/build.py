"""The turn corpus: plan (seeded), synthesize (2 worker processes), assemble (lead silence, noise), cache.

A corpus folder holds `corpus.json` (its settings and key, written first), `clips/<id>.wav` ([N] float32 16 kHz
mono) with `clips/<id>.json` (the clip's manifest row, written after its audio), and `manifest.jsonl` (one row per
clip) written last and atomically: a folder with a manifest is complete. A rebuild reuses the clips it finds.
The default folder is `<root>/<key>/` where root is $OPENS2S_TURN_CORPUS_DIR or
`platformdirs.user_cache_dir("opens2s-companion")/turn_corpus`, and key hashes the settings below, the sentence
and voice lists and the espeak-ng and flite version strings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs
import soundfile as sf

from core.files import atomic_file, write_text_atomic
from models.errors import UserError
from testing.turn_corpus import noise as noises
from testing.turn_corpus import synth
from testing.turn_corpus.sentences import SENTENCES, SPLITS, Sentence, sentences
from testing.turn_corpus.voices import (
    ESPEAK,
    ESPEAK_PITCH,
    ESPEAK_RATE_WPM,
    FLITE,
    FLITE_F0_FACTOR,
    FLITE_STRETCH,
    SYNTHS,
    VOICES,
    Voice,
    voices,
)

log = logging.getLogger(__name__)

GENERATOR_VERSION = 2  # bump when the audio a setting gives changes
ENV_DIR = "OPENS2S_TURN_CORPUS_DIR"
SEED = 32
WORKERS = 2
# (synth, split) -> (complete clips, paused clips)
DEFAULT_SIZES = {(ESPEAK, "train"): (160, 160), (ESPEAK, "heldout"): (100, 100),
                 (FLITE, "train"): (100, 100), (FLITE, "heldout"): (80, 80)}
SMALL_PER_CELL = 8
PAUSE_MS = (600, 1000)
LEAD_S = (0.3, 0.6)
TAIL_S = 3.0  # after the end of speech (silence, or the noise going on)
PEAK = (0.3, 0.9)  # the clean speech's peak level, drawn per clip
NOISE_SHARE = 1 / 3
SNR_DB = (15.0, 30.0)
SHORT = {ESPEAK: "espeak", FLITE: "flite"}


@dataclass(frozen=True)
class ClipSpec:
    """Everything one clip is made from (drawn in the main process, so workers change nothing)."""
    id: str
    split: str
    synth: str
    voice: str
    sentence: Sentence
    rate_wpm: int | None
    pitch: int | None  # espeak-ng -p; flite int_f0_target_mean (Hz)
    flite_stretch: float | None
    pause_ms: int | None
    lead_s: float
    peak: float
    noise: dict | None  # {"kind", "snr_db", "seed"}


def settings(sizes: dict) -> dict:
    return {
        "generator": GENERATOR_VERSION, "seed": SEED,
        "sizes": {f"{synth_name}/{split}": list(n) for (synth_name, split), n in sorted(sizes.items())},
        "pause_ms": PAUSE_MS, "lead_s": LEAD_S, "tail_s": TAIL_S, "peak": PEAK, "noise_share": NOISE_SHARE,
        "snr_db": SNR_DB, "noise_kinds": noises.KINDS, "noise_hz": [noises.KNEE_HZ, noises.HIGH_PASS_HZ],
        "floor": synth.FLOOR,
        "flite_cut": [synth.FRAME_S, synth.SEARCH_S, synth.FADE_OUT_S, synth.FADE_IN_S, synth.TAIL_GATE_DB],
        "espeak_rate_wpm": ESPEAK_RATE_WPM, "espeak_pitch": ESPEAK_PITCH, "flite_stretch": FLITE_STRETCH,
        "flite_f0_factor": FLITE_F0_FACTOR,
    }


def sizes_for(small: bool) -> dict:
    return {cell: (SMALL_PER_CELL, SMALL_PER_CELL) for cell in DEFAULT_SIZES} if small else dict(DEFAULT_SIZES)


def corpus_key(sizes: dict) -> tuple[str, dict]:
    """(16 hex digits, the description they hash): settings, sentences, voices, synthesizer versions."""
    described = {"settings": settings(sizes),
                 "sentences": [[s.split, s.kind, list(s.parts)] for s in SENTENCES],
                 "voices": [[v.synth, v.split, v.name] for v in VOICES],
                 "versions": {ESPEAK: synth.version(ESPEAK), FLITE: synth.version(FLITE)}}
    blob = json.dumps(described, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16], described


def cache_root() -> Path:
    given = os.environ.get(ENV_DIR)
    return Path(given).expanduser() if given else Path(platformdirs.user_cache_dir("opens2s-companion")) / "turn_corpus"


def default_folder(small: bool = False) -> Path:
    return cache_root() / corpus_key(sizes_for(small))[0]


def _cycle(pool: tuple, n: int, rng: np.random.Generator) -> list:
    """n items: shuffled passes over the whole pool, so every item is used once before any twice."""
    out = []
    while len(out) < n:
        out += [pool[i] for i in rng.permutation(len(pool))]
    return out[:n]


def _draw(rng: np.random.Generator, bounds: tuple) -> float:
    return float(rng.uniform(*bounds))


def plan(sizes: dict) -> list[ClipSpec]:
    """The clips, in manifest order: per split, per synthesizer, complete then paused."""
    specs = []
    for si, split in enumerate(SPLITS):
        for yi, name in enumerate(SYNTHS):
            rng = np.random.default_rng([SEED, si, yi])
            number = 0
            for paused, n in zip((False, True), sizes[(name, split)], strict=True):
                pool_voices: tuple[Voice, ...] = voices(split, name)
                for sentence, voice in zip(_cycle(sentences(split, paused), n, rng),
                                           _cycle(pool_voices, n, rng), strict=True):
                    number += 1
                    specs.append(_spec(f"{SHORT[name]}-{split}-{number:04d}", sentence, voice, rng))
    return specs


def _spec(clip_id: str, sentence: Sentence, voice: Voice, rng: np.random.Generator) -> ClipSpec:
    rate = pitch = stretch = None
    if voice.synth == ESPEAK:
        rate = int(rng.integers(ESPEAK_RATE_WPM[0], ESPEAK_RATE_WPM[1] + 1))
        pitch = int(rng.integers(ESPEAK_PITCH[0], ESPEAK_PITCH[1] + 1))
    else:
        stretch = round(_draw(rng, FLITE_STRETCH), 2)
        factor = _draw(rng, FLITE_F0_FACTOR)
        pitch = None if voice.f0_hz is None else int(round(voice.f0_hz * factor))
    pause_ms = int(rng.integers(PAUSE_MS[0], PAUSE_MS[1] + 1)) if sentence.paused else None
    lead_s, peak = round(_draw(rng, LEAD_S), 3), round(_draw(rng, PEAK), 3)
    noisy, kind = rng.random() < NOISE_SHARE, str(rng.choice(noises.KINDS))
    snr, seed = round(_draw(rng, SNR_DB), 1), int(rng.integers(2 ** 31))
    return ClipSpec(clip_id, voice.split, voice.synth, voice.name, sentence, rate, pitch, stretch, pause_ms, lead_s,
                    peak, {"kind": kind, "snr_db": snr, "seed": seed} if noisy else None)


def clean_speech(spec: ClipSpec) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The trimmed clean speech [N] float32 16 kHz (first to last sample above the floor) and its inner pauses
    as [start, end) sample indices."""
    parts = spec.sentence.parts
    if spec.synth == ESPEAK:
        x = synth.set_level(synth.espeak_raw(spec.voice, spec.rate_wpm, spec.pitch, parts, spec.pause_ms or 0),
                            spec.peak)
        at = None
        if spec.pause_ms is not None:
            start, end = synth.longest_inner_run(x)
            if (end - start) < 0.5 * spec.pause_ms * synth.RATE_HZ / 1000:
                raise RuntimeError(f"{spec.id}: espeak-ng made no {spec.pause_ms} ms break ({(end - start)} samples)")
            at = (start + end) // 2
    else:
        raw, at = synth.flite_raw(spec.voice, spec.flite_stretch, spec.pitch, parts)
        x = synth.set_level(raw, spec.peak)
    pauses = []
    if spec.pause_ms is not None:
        x, start = synth.put_pause(x, at, spec.pause_ms)
        pauses.append((start, start + int(round(spec.pause_ms * synth.RATE_HZ / 1000))))
    x, cut = synth.trim(x)
    return x, [(a - cut, b - cut) for a, b in pauses]


def _s(samples: int) -> float:
    """Samples -> seconds, rounded finely enough (10 us) that round(t * 16000) gives the sample back."""
    return round(samples / synth.RATE_HZ, 5)


def make_clip(spec: ClipSpec, clips: Path) -> dict:
    """Synthesize and store one clip (or reuse the stored one) -> its manifest row."""
    wav, meta = clips / f"{spec.id}.wav", clips / f"{spec.id}.json"
    if wav.is_file() and meta.is_file():
        row = json.loads(meta.read_text(encoding="utf-8"))
        if row.get("text") == spec.sentence.text and row.get("voice") == spec.voice:
            return row
    speech, pauses = clean_speech(spec)  # [S] float32 16 kHz
    rate = synth.RATE_HZ
    lead = int(round(spec.lead_s * rate))
    clean = np.concatenate([np.zeros(lead, np.float32), speech, np.zeros(int(TAIL_S * rate), np.float32)])
    noise = None
    audio = clean
    if spec.noise is not None:
        voiced = np.ones(speech.size, bool)
        for a, b in pauses:
            voiced[a:b] = False
        speech_rms = float(np.sqrt(np.mean(speech[voiced].astype(np.float64) ** 2)))
        audio = noises.add_noise(clean, speech_rms, spec.noise["kind"], spec.noise["snr_db"], spec.noise["seed"])
        noise = {"kind": spec.noise["kind"], "snr_db": spec.noise["snr_db"]}
    with atomic_file(wav) as f:
        sf.write(f, audio, rate, format="WAV", subtype="FLOAT")
    row = {"id": spec.id, "split": spec.split, "synth": spec.synth, "voice": spec.voice, "rate_wpm": spec.rate_wpm,
           "pitch": spec.pitch, "flite_stretch": spec.flite_stretch,
           "kind": "paused" if spec.sentence.paused else "complete", "sentence_kind": spec.sentence.kind,
           "text": spec.sentence.text, "parts": list(spec.sentence.parts), "file": f"clips/{spec.id}.wav",
           "duration_s": _s(audio.size), "speech_start_s": _s(lead), "speech_end_s": _s(lead + speech.size),
           "pauses_s": [[_s(lead + a), _s(lead + b)] for a, b in pauses],
           "noise": noise}
    write_text_atomic(meta, json.dumps(row))
    return row


def _check_folder(folder: Path, key: str, described: dict) -> None:
    info = folder / "corpus.json"
    if info.is_file():
        found = json.loads(info.read_text(encoding="utf-8")).get("key")
        if found != key:
            raise UserError(f"{folder} holds a turn corpus made with other settings (key {found}, wanted {key}); "
                            "choose another folder or remove that one")
        return
    if folder.is_dir() and any(folder.iterdir()):
        raise UserError(f"{folder} is not empty and holds no turn corpus; choose an empty or new folder")
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(info, json.dumps({"key": key, **described}, indent=1))


def build_corpus(folder: Path | None = None, small: bool = False, sizes: dict | None = None,
                 workers: int = WORKERS) -> Path:
    """Make (or finish) the corpus in `folder` (default: the cache folder for these settings) -> the folder."""
    sizes = sizes or sizes_for(small)
    key, described = corpus_key(sizes)
    folder = Path(folder) if folder is not None else cache_root() / key
    if (folder / "manifest.jsonl").is_file():
        _check_folder(folder, key, described)
        return folder
    _check_folder(folder, key, described)
    clips = folder / "clips"
    clips.mkdir(exist_ok=True)
    specs = plan(sizes)
    log.info("turn corpus: %d clips into %s", len(specs), folder)
    if workers <= 1:
        rows = [make_clip(s, clips) for s in specs]
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows = list(pool.map(make_clip, specs, [clips] * len(specs), chunksize=4))
    write_text_atomic(folder / "manifest.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    return folder
