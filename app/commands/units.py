"""`units`: speech -> GLM-4-Voice units with the speech tokenizer; optionally back to audio through the vocoder."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from models.errors import UserError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "units",
        help="print the GLM-4-Voice speech units of an audio file (and optionally vocode them back)",
        description="Encode an audio file into GLM-4-Voice speech units (12.5 per second, ids 0..16383) with the "
        "glm-4-voice-tokenizer; with --decoder and --out, decode the units back to a WAV file.",
    )
    p.add_argument("--tokenizer", required=True, metavar="DIR", help="glm-4-voice-tokenizer directory")
    p.add_argument("--audio", required=True, metavar="FILE", help="WAV/FLAC/OGG file (first channel is used)")
    p.add_argument("--json", action="store_true", help='print {"units": [...], ...} as JSON')
    p.add_argument("--decoder", metavar="DIR", help="glm-4-voice-decoder directory: round trip to --out")
    p.add_argument("--out", metavar="WAV", help="output WAV of the round trip (needs --decoder)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA if present)")
    p.add_argument("--dtype", default=None, help="float32 or bfloat16 (default: bf16 on CUDA, fp32 on CPU)")
    p.add_argument("--seed", type=int, default=0, help="vocoder noise seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if (args.decoder is None) != (args.out is None):
        raise UserError("--decoder and --out go together: give both for a round trip, or neither")
    from core.speech_tokenizer import SpeechTokenizer

    if args.out is not None:
        from app.commands.vocode import check_audio_out

        check_audio_out(args.out, {"--audio": args.audio, "--tokenizer": args.tokenizer, "--decoder": args.decoder})
    tokenizer = SpeechTokenizer.load(args.tokenizer, device=args.device, dtype=args.dtype)
    units = tokenizer.encode_file(args.audio)
    if args.json:
        print(json.dumps({"units": units, "count": len(units), "units_per_second": tokenizer.units_per_second}))
    else:
        print(" ".join(str(u) for u in units))
    if args.decoder:
        roundtrip(units, args)
    return 0


def roundtrip(units: list[int], args: argparse.Namespace) -> None:
    import torch

    from core.audio.clips import write_audio_atomic
    from core.voice.vocoder import Vocoder, VocoderConfig

    decoder = Vocoder.load(args.decoder, config=VocoderConfig.from_env(device=args.device))
    try:
        decoder.check_units(units)
    except ValueError as err:
        raise UserError(str(err)) from err
    audio = decoder.decode(units, torch.Generator().manual_seed(args.seed))
    write_audio_atomic(args.out, audio, decoder.sample_rate_hz)
    print(f"wrote {args.out}: {len(audio) / decoder.sample_rate_hz:.2f} s from {len(units)} units", file=sys.stderr)
