"""`vocode`: GLM-4-Voice speech units (JSON) -> 22050 Hz WAV, whole or through the streaming decoder."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from core.files import UnusableFile, read_bounded, refuse_overlap
from models.errors import UserError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "vocode",
        help="turn speech units into a WAV file with the GLM-4-Voice decoder",
        description="Decode GLM-4-Voice speech units (ids 0..16383) to a 22050 Hz WAV file.",
    )
    p.add_argument("--decoder", required=True, metavar="DIR", help="glm-4-voice-decoder directory")
    p.add_argument("--units", required=True, metavar="JSON", help='a JSON list of ints, or {"units": [...]}')
    p.add_argument("--out", required=True, metavar="WAV", help="output WAV path")
    p.add_argument(
        "--vocoder-backend",
        choices=("torch", "onnx"),
        default=None,
        help="network backend (default: $OPENS2S_VOCODER_BACKEND or torch)",
    )
    p.add_argument("--stream", action="store_true", help="decode chunk by chunk, as during a live reply")
    p.add_argument(
        "--vocoder-schedule",
        choices=("fast", "smooth", "reference"),
        default="fast",
        help="chunk schedule for --stream: ours with an 8-unit first chunk (default), ours with a 16-unit first "
        "chunk and full overlaps (ChunkSchedule.smooth()) or the reference's fixed 24 units",
    )
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.set_defaults(func=run)


MAX_UNITS_FILE_BYTES = 16 * 1024 * 1024  # 7500 ids of 5 digits take ~50 KB; anything near this is not a units file
MAX_UNITS = 7500  # 600 s of speech at 12.5 units per second, the same limit as for audio input


def read_units(path: str | Path) -> list[int]:
    """Units from a JSON file: a list of ints or an object with a "units" list; `UserError` otherwise.

    The path must be a regular file of at most MAX_UNITS_FILE_BYTES (checked before reading: /dev/zero or a FIFO
    would never end), holding at most MAX_UNITS ids."""
    path = Path(path)
    try:
        data = json.loads(read_bounded(path, MAX_UNITS_FILE_BYTES).decode("utf-8"))
    except UnusableFile as err:
        raise UserError(f"units file {path} is {err}; give a JSON file of at most {MAX_UNITS_FILE_BYTES // 2**20} MiB "
                        f"(up to {MAX_UNITS} units)") from None
    except OSError as err:
        raise UserError(f"cannot read units file {path}: {err.strerror}") from err
    except UnicodeDecodeError:
        raise UserError(f"units file {path} is not UTF-8 text (a binary file?); give a JSON list of ints") from None
    except json.JSONDecodeError as err:
        raise UserError(f"units file {path} is not valid JSON ({err.msg} at line {err.lineno})") from err
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        reason = "a number too long to read" if "digits" in str(err) else f"a value it cannot read ({err})"
        raise UserError(f"units file {path} holds {reason[:120]}; unit ids are 0..16383") from None
    except RecursionError:
        raise UserError(f"units file {path} is nested too deeply; give a flat JSON list of ints") from None
    units = data.get("units") if isinstance(data, dict) else data
    if not isinstance(units, list) or not all(isinstance(u, int) and not isinstance(u, bool) for u in units):
        raise UserError(f'units file {path} must hold a JSON list of integers or {{"units": [...]}}')
    if not units:
        raise UserError(f"units file {path} holds no units; give at least one unit id")
    if len(units) > MAX_UNITS:
        raise UserError(f"units file {path} holds {len(units)} units; the limit is {MAX_UNITS} (600 s of speech), "
                        "split it")
    return units


def check_audio_out(out: str | Path, inputs: dict[str, str | Path | None], flag: str = "--out") -> Path:
    """Before any work: `out` must be a file name in an existing folder, and not be, hold or lie in an input.
    Warns (one log line) when it will replace an existing file."""
    out = Path(out)
    if out.is_dir():
        raise UserError(f"{flag} {out} is a folder; give a file name to write (e.g. {out / 'out.wav'})")
    refuse_overlap(out, inputs, out_flag=flag)
    if not out.parent.is_dir():
        raise UserError(f"{flag} {out}: the folder {out.parent} does not exist; create it first")
    if out.exists() and not out.is_file():
        raise UserError(f"{flag} {out} is not a regular file (a device, pipe or socket); give a file name to write")
    if out.exists():
        log.warning("%s %s exists; it is replaced once the new audio is complete", flag, out)
    return out


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from core.audio.clips import write_audio_atomic
    from core.voice.chunk_schedule import ChunkSchedule
    from core.voice.vocoder import Vocoder, VocoderConfig

    units = read_units(args.units)
    out = check_audio_out(args.out, {"--units": args.units, "--decoder": args.decoder})
    config = VocoderConfig.from_env(backend=args.vocoder_backend)
    decoder = Vocoder.load(args.decoder, config=config)
    try:
        decoder.check_units(units)
    except ValueError as err:
        raise UserError(str(err)) from err
    generator = torch.Generator().manual_seed(args.seed)
    if args.stream:
        schedule = ChunkSchedule.preset(args.vocoder_schedule)
        stream = decoder.open_stream(schedule, generator)
        chunks = [c for u in units for c in stream.push([u])] + stream.flush()
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        how = f"{len(chunks)} streamed chunks"
    else:
        audio, how = decoder.decode(units, generator), "whole utterance"
    write_audio_atomic(out, audio, decoder.sample_rate_hz)
    seconds = len(audio) / decoder.sample_rate_hz
    print(f"wrote {out}: {seconds:.2f} s from {len(units)} units ({how}, {config.backend} backend)")
    return 0
