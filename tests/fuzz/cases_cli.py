"""The CLI itself: units files that cannot be used, and outputs that cannot (or must not) be written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import soundfile as sf
import torch

from testing.fuzz import OK, Case, Outcome
from testing.synthetic import synthetic_clip

FAST_S = 20.0  # cases that used to hang


def _units(kit, content: str | bytes | None = None, name: str = "units.json") -> str:
    return str(kit.write(name, json.dumps(list(range(1, 17))) if content is None else content))


def _vocode(units=None, out=None, decoder=None) -> callable:
    """`vocode --decoder D --units U --out O`, each built from the kit (defaults: a fresh tiny decoder, 16 units,
    case/out.wav)."""

    def make(kit) -> list[str]:
        dec = decoder(kit) if decoder else kit.decoder()
        u = units(kit) if units else _units(kit)
        o = out(kit, dec, u) if out else kit.folder / "out.wav"
        return ["vocode", "--decoder", str(dec), "--units", str(u), "--out", str(o)]

    return make


def _fifo(kit, name: str = "fifo") -> Path:
    path = kit.folder / name
    os.mkfifo(path)
    return path


def _folder(kit) -> Path:
    path = kit.folder / "sub"
    path.mkdir()
    return path


def _nan_flow(kit) -> Path:
    dec = kit.decoder()
    state = torch.load(dec / "flow.pt", weights_only=True)
    torch.save({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state.items()},
               dec / "flow.pt")
    return dec


def _wav_ok(name: str):
    def check(folder: Path, outcome: Outcome) -> str | None:
        path = folder / name
        if not path.is_file():
            return f"{name} was not written"
        info = sf.info(str(path))
        if info.frames == 0:
            return f"{name} is empty"
        left = [p.name for p in folder.iterdir() if ".tmp-" in p.name]
        return f"temporary files left: {left}" if left else None

    return check


def _replaced_whole(folder: Path, outcome: Outcome) -> str | None:
    problem = _wav_ok("keep.wav")(folder, outcome)
    if problem:
        return problem
    return None if sf.info(str(folder / "keep.wav")).samplerate == 22050 else "keep.wav was not replaced"


def _keep_wav(kit, dec, units) -> Path:
    path = kit.folder / "keep.wav"
    sf.write(str(path), synthetic_clip(1.0), 16000)
    return path


def _units_roundtrip(out) -> callable:
    def make(kit) -> list[str]:
        wav = kit.folder / "in.wav"
        sf.write(str(wav), synthetic_clip(2.0), 16000)
        tok, dec = kit.speech_tokenizer(), kit.decoder()
        return ["units", "--tokenizer", str(tok), "--audio", str(wav), "--decoder", str(dec), "--device", "cpu",
                "--out", str(out(kit, wav, tok, dec))]

    return make


UNITS = "units file"
OUT = "vocode --out"
DEEP = "[" * 100_000 + "]" * 100_000

CASES = [
    Case(OUT, "a folder", lambda kit: ["vocode", "--decoder", str(kit.decoder()), "--units",
                                       _units(kit), "--out", str(kit.folder)], says=("folder",)),
    Case(OUT, "in a missing folder", _vocode(out=lambda kit, d, u: kit.folder / "no" / "such" / "out.wav"),
         says=("does not exist",)),
    Case(OUT, "the units file itself", _vocode(out=lambda kit, d, u: u), says=("--units",)),
    Case(OUT, "inside the decoder folder", _vocode(out=lambda kit, d, u: d / "out.wav"), says=("--decoder",)),
    Case(OUT, "the decoder's flow.pt", _vocode(out=lambda kit, d, u: d / "flow.pt"), says=("--decoder",)),
    Case(OUT, "a FIFO", _vocode(out=lambda kit, d, u: _fifo(kit, "out.wav")), says=("regular file",),
         timeout_s=FAST_S),
    Case(OUT, "an existing WAV (replaced whole)", _vocode(out=_keep_wav), expect=OK, check=_replaced_whole),
    Case(OUT, "a .flac name", _vocode(out=lambda kit, d, u: kit.folder / "out.flac"), expect=OK,
         check=_wav_ok("out.flac")),
    Case(OUT, "an unknown extension", _vocode(out=lambda kit, d, u: kit.folder / "out.xyz"), expect=OK,
         check=_wav_ok("out.xyz")),
    Case(OUT, "units --out is the --audio", _units_roundtrip(lambda kit, wav, tok, dec: wav), says=("--audio",)),
    Case(OUT, "units --out inside the tokenizer", _units_roundtrip(lambda kit, wav, tok, dec: tok / "x.wav"),
         says=("--tokenizer",)),
    Case(OUT, "units --out a folder", _units_roundtrip(lambda kit, wav, tok, dec: _folder(kit)), says=("folder",)),
    Case(OUT, "NaN flow.pt (decoder weights)", _vocode(decoder=_nan_flow), says=("flow",)),
    Case(UNITS, "/dev/zero", _vocode(units=lambda kit: "/dev/zero"), says=("/dev/zero", "regular file"),
         timeout_s=FAST_S),
    Case(UNITS, "a FIFO", _vocode(units=lambda kit: _fifo(kit)), says=("regular file",), timeout_s=FAST_S),
    Case(UNITS, "a folder", _vocode(units=lambda kit: kit.folder), says=("folder",)),
    Case(UNITS, "missing", _vocode(units=lambda kit: kit.folder / "nope.json"), says=("nope.json",)),
    Case(UNITS, "a unit id with 5000 digits", _vocode(units=lambda kit: _units(kit, "[" + "7" * 5000 + "]")),
         says=("units.json", "too long")),
    Case(UNITS, "a unit id with 4000 digits", _vocode(units=lambda kit: _units(kit, "[" + "7" * 4000 + "]")),
         says=("ids must be",)),
    Case(UNITS, "a unit id of 1e400", _vocode(units=lambda kit: _units(kit, "[1e400]")), says=("integers",)),
    Case(UNITS, "a unit id 16384", _vocode(units=lambda kit: _units(kit, "[1, 16384]")), says=("ids must be",)),
    Case(UNITS, "negative ids (clamped to 0)", _vocode(units=lambda kit: _units(kit, json.dumps([-5] * 16))),
         expect=OK, check=_wav_ok("out.wav")),
    Case(UNITS, "no units", _vocode(units=lambda kit: _units(kit, "[]")), says=("no units",)),
    Case(UNITS, "8000 units", _vocode(units=lambda kit: _units(kit, json.dumps([1] * 8000))), says=("limit",)),
    Case(UNITS, "17 MiB", _vocode(units=lambda kit: _units(kit, "[" + "1, " * (6 * 1024 * 1024) + "1]")),
         says=("MiB",)),
    Case(UNITS, "nested 100000 deep", _vocode(units=lambda kit: _units(kit, DEEP)), says=("nested",),
         timeout_s=FAST_S),
    Case(UNITS, "binary", _vocode(units=lambda kit: _units(kit, bytes(range(256)))), says=("UTF-8",)),
    Case(UNITS, "not JSON", _vocode(units=lambda kit: _units(kit, "1 2 3")), says=("JSON",)),
    Case(UNITS, "floats", _vocode(units=lambda kit: _units(kit, "[1.5, 2]")), says=("integers",)),
    Case(UNITS, "booleans", _vocode(units=lambda kit: _units(kit, "[true, false]")), says=("integers",)),
    Case(UNITS, "an object without units", _vocode(units=lambda kit: _units(kit, '{"codes": [1]}')),
         says=("units",)),
]
