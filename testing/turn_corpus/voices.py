"""The corpus's voices, each with its split. Held-out voices share nothing with training voices of the same
synthesizer: espeak-ng's held-out voices use other languages (accents) AND other variants; flite's are other
voices.

Where they come from (Debian/Ubuntu packages; .ci/install installs both programs):
- espeak-ng (apt `espeak-ng`, data in `espeak-ng-data`): the formant synthesizer's English language voices
  (`espeak-ng --voices=en`, files gmw/en*) combined with its voice variants (`espeak-ng --voices=variant`, files
  `!v/m1`, `!v/f3`, `!v/klatt`, ...) as `language+variant`. The mbrola voices (`mb/...`) are not used: they need
  separate mbrola packages. Rate (-s words per minute) and pitch (-p, 0-99) are drawn per clip.
- flite 2.2 (apt `flite`, CMU Flite with its built-in voices, `flite -lv`): kal and kal16 (diphone, US male;
  kal is 8 kHz), slt (US female), awb (Scottish English male) and rms (US male); awb_time (a talking clock) is
  not used. Per clip: `duration_stretch` (speaking rate) and `int_f0_target_mean` (mean pitch, Hz). rms ignores
  int_f0_target_mean (measured: 100 Hz median f0 at every setting), so its clips have no pitch.
"""

from __future__ import annotations

from dataclasses import dataclass

ESPEAK = "espeak-ng"
FLITE = "flite"
SYNTHS = (ESPEAK, FLITE)

_ESPEAK_LANGUAGES = {
    "train": ("en-us", "en-gb", "en-gb-x-gbclan", "en-029"),
    "heldout": ("en-us-nyc", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbcwmd"),
}
_ESPEAK_VARIANTS = {
    "train": ("m1", "m2", "m3", "m4", "f1", "f2", "f3", "klatt"),
    "heldout": ("m5", "m6", "m7", "f4", "f5", "klatt3"),
}
ESPEAK_RATE_WPM = (130, 190)  # -s, drawn per clip (inclusive)
ESPEAK_PITCH = (30, 70)  # -p, drawn per clip (inclusive)

# flite voice -> its default mean f0 in Hz (measured on this voice set); the clip's target is this x a drawn factor
_FLITE_F0_HZ = {"kal": 91.0, "kal16": 91.0, "slt": 172.0, "awb": 130.0, "rms": None}
_FLITE_VOICES = {"train": ("kal16", "slt", "kal"), "heldout": ("awb", "rms")}
FLITE_STRETCH = (0.85, 1.2)  # duration_stretch, drawn per clip
FLITE_F0_FACTOR = (0.85, 1.15)  # x the voice's default mean f0, drawn per clip


@dataclass(frozen=True)
class Voice:
    synth: str  # ESPEAK | FLITE
    name: str  # espeak-ng "language+variant" (e.g. "en-us+f3"); flite voice name (e.g. "slt")
    split: str  # "train" | "heldout"

    @property
    def f0_hz(self) -> float | None:
        """flite: the voice's default mean f0 (None: the voice ignores int_f0_target_mean); espeak-ng: None."""
        return _FLITE_F0_HZ[self.name] if self.synth == FLITE else None


def _build() -> tuple[Voice, ...]:
    out = []
    for split in ("train", "heldout"):
        out += [Voice(ESPEAK, f"{lang}+{variant}", split)
                for lang in _ESPEAK_LANGUAGES[split] for variant in _ESPEAK_VARIANTS[split]]
        out += [Voice(FLITE, name, split) for name in _FLITE_VOICES[split]]
    return tuple(out)


VOICES = _build()


def voices(split: str, synth: str) -> tuple[Voice, ...]:
    """The split's voices of one synthesizer, in a fixed order."""
    return tuple(v for v in VOICES if v.split == split and v.synth == synth)
