"""`reply`: one assistant turn, headless. Text streams to stdout; units go to a JSON file (or every event to
stdout as JSON lines with --json-events)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from core.audio.clips import load_audio_file
from core.lm.conversation import Conversation
from core.lm.events import SpeechUnits, TextDelta, TurnEnd
from core.lm.runner import OpenS2SRunner
from core.lm.sampling import SamplingConfig
from models.errors import UserError
from models.weights import WEIGHT_KINDS

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reply", help="generate one spoken reply (text + speech units) from audio or text")
    p.add_argument("--checkpoint", required=True, help="OpenS2S checkpoint directory")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--audio", help="the user's turn as an audio file (WAV/FLAC/OGG, any rate, mono or stereo)")
    src.add_argument("--text", help="the user's turn as text")
    p.add_argument("--history", help="JSON list of earlier turns: {role, text} or {role: user, audio: path}")
    p.add_argument("--system-prompt", default=None, help="system prompt (default: the reference's)")
    p.add_argument("--units-out", default=None, help="also write the speech units to this JSON file (default: none)")
    p.add_argument("--json-events", action="store_true", help="print every event as one JSON line")
    p.add_argument("--dump-logits", metavar="FILE.npz", help="save last-position logits of every LM step")
    p.add_argument("--greedy", action="store_true", help="greedy decoding for both LMs (deterministic)")
    p.add_argument("--temperature", type=float, default=SamplingConfig.temperature)
    p.add_argument("--top-p", type=float, default=SamplingConfig.top_p)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--max-text-tokens", type=int, default=None)
    p.add_argument("--max-units", type=int, default=None)
    p.add_argument("--decoder", help="glm-4-voice-decoder directory: also vocode the reply while it streams")
    p.add_argument("--out", help="reply WAV (22050 Hz) written chunk by chunk; needs --decoder")
    p.add_argument("--vocoder-backend", choices=("torch", "onnx"), default="torch")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda if available)")
    p.add_argument("--dtype", default=None, help="float32 | bfloat16 | float16 (default: bf16 on CUDA, else fp32)")
    p.add_argument("--weights", choices=WEIGHT_KINDS, default="full",
                   help="LM weight storage: full (the dtype), int8, or int4 (CUDA + bf16); int8 needs ~half the "
                        "memory of bf16 (torchao)")
    p.set_defaults(func=run)


def _sampling(args: argparse.Namespace) -> SamplingConfig:
    try:
        return SamplingConfig(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, greedy=args.greedy,
                              seed=args.seed, max_text_tokens=args.max_text_tokens, max_units=args.max_units)
    except ValueError as err:
        raise UserError(f"invalid sampling option: {err}") from None


def _conversation(args: argparse.Namespace) -> Conversation:
    if args.history:
        conv = Conversation.from_history_file(args.history, args.system_prompt)
    else:
        conv = Conversation(args.system_prompt)
    if args.audio:
        conv.add_user_audio(load_audio_file(args.audio))
    else:
        conv.add_user_text(args.text)
    return conv


class _LogitsRecorder:
    def __init__(self) -> None:
        self.steps: dict[str, list[np.ndarray]] = {"llm": [], "tts": []}

    def __call__(self, name: str, logits) -> None:
        self.steps[name].append(logits.detach().cpu().numpy().astype(np.float32))

    def save(self, path: str) -> None:
        arrays = {f"{k}_logits": np.stack(v) if v else np.zeros((0, 0), np.float32) for k, v in self.steps.items()}
        np.savez_compressed(path, **arrays)


def _event_json(ev, t0: float) -> str:
    t_s = round(time.perf_counter() - t0, 6)
    if isinstance(ev, TextDelta):
        return json.dumps({"t_s": t_s, "type": "text", "text": ev.text, "token_ids": list(ev.token_ids)})
    if isinstance(ev, SpeechUnits):
        return json.dumps({"t_s": t_s, "type": "units", "units": list(ev.units), "token_ids": list(ev.token_ids)})
    return json.dumps({"t_s": t_s, "type": "end", "reason": ev.reason.value, "text": ev.text,
                       "n_text_tokens": ev.n_text_tokens, "n_units": ev.n_units})


class _WavSink:
    """Streams reply units through the vocoder into a WAV file, appending each chunk as it is made."""

    def __init__(self, decoder_dir: str, out: str, backend: str, device: str | None, seed: int | None):
        import soundfile as sf
        import torch

        from core.voice.vocoder import Vocoder

        self._dec = Vocoder.load(decoder_dir, backend=backend, device=device)
        gen = torch.Generator()
        gen.manual_seed(seed) if seed is not None else gen.seed()
        self._stream = self._dec.open_stream(generator=gen)
        self._file = sf.SoundFile(out, "w", samplerate=self._dec.sample_rate_hz, channels=1, subtype="PCM_16")
        self.n_samples = 0
        self.rate_hz = self._dec.sample_rate_hz

    def _write(self, chunks) -> None:
        for chunk in chunks:
            self._file.write(chunk)
            self._file.flush()
            self.n_samples += chunk.size

    def push(self, units: tuple[int, ...]) -> None:
        if units:
            self._write(self._stream.push(list(units)))

    def close(self) -> None:
        self._write(self._stream.flush())
        self._file.close()


def _note(message: str) -> None:
    """What the command wrote, on stderr (stdout carries the reply text or the JSON events)."""
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    sampling = _sampling(args)
    if bool(args.decoder) != bool(args.out):
        raise UserError("--decoder and --out go together: give both to write the spoken reply")
    conv = _conversation(args)
    runner = OpenS2SRunner.load(args.checkpoint, device=args.device, dtype=args.dtype, weights=args.weights)
    wav = _WavSink(args.decoder, args.out, args.vocoder_backend, args.device, args.seed) if args.decoder else None
    recorder = _LogitsRecorder() if args.dump_logits else None
    stream = runner.reply(conv, sampling, logits_sink=recorder)
    units: list[int] = []
    t0 = time.perf_counter()
    end: TurnEnd | None = None
    for ev in stream:
        if args.json_events:
            print(_event_json(ev, t0), flush=True)
        elif isinstance(ev, TextDelta) and ev.text:
            sys.stdout.write(ev.text)
            sys.stdout.flush()
        if isinstance(ev, SpeechUnits):
            units.extend(ev.units)
            if wav:
                wav.push(ev.units)
        elif isinstance(ev, TurnEnd):
            end = ev
    if not args.json_events:
        print()
    if wav:
        wav.close()
        _note(f"wrote {args.out} ({wav.n_samples / wav.rate_hz:.1f} s of speech, {wav.rate_hz} Hz)")
    if args.units_out:
        Path(args.units_out).write_text(json.dumps({"units": units}))
        _note(f"wrote {args.units_out} ({len(units)} speech units)")
    if recorder:
        recorder.save(args.dump_logits)
    if end is not None:
        log.info("reply ended: %s after %d text tokens, %d units", end.reason.value, end.n_text_tokens, end.n_units)
    return 0
