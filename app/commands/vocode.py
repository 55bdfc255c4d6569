"""`vocode`: GLM-4-Voice speech units (JSON) -> 22050 Hz WAV, whole or through the streaming decoder."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

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


def read_units(path: str | Path) -> list[int]:
    """Units from a JSON file: a list of ints or an object with a "units" list; `UserError` otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise UserError(f"cannot read units file {path}: {err.strerror}") from err
    except json.JSONDecodeError as err:
        raise UserError(f"units file {path} is not valid JSON ({err.msg} at line {err.lineno})") from err
    units = data.get("units") if isinstance(data, dict) else data
    if not isinstance(units, list) or not all(isinstance(u, int) and not isinstance(u, bool) for u in units):
        raise UserError(f'units file {path} must hold a JSON list of integers or {{"units": [...]}}')
    return units


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import soundfile as sf
    import torch

    from core.voice.chunk_schedule import ChunkSchedule
    from core.voice.vocoder import Vocoder, VocoderConfig

    units = read_units(args.units)
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
    sf.write(args.out, audio, decoder.sample_rate_hz)
    seconds = len(audio) / decoder.sample_rate_hz
    print(f"wrote {args.out}: {seconds:.2f} s from {len(units)} units ({how}, {config.backend} backend)")
    return 0
