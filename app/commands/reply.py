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

from app.config import CompanionConfig, ComputeConfig, ModelSource
from app.flags import FlagGroup, add_flags, apply_flags
from core.audio.clips import load_audio_file
from core.lm.conversation import Conversation
from core.lm.events import SpeechUnits, TextDelta, TurnEnd
from core.lm.sampling import SamplingConfig
from core.voice.config import VoiceConfig
from models.errors import UserError

log = logging.getLogger(__name__)


def flag_groups() -> tuple[FlagGroup, ...]:
    """The config fields `reply` offers as flags (defaults and help come from the fields)."""
    return (
        FlagGroup("model", ModelSource, title="models"),
        FlagGroup("compute", ComputeConfig, title="compute"),
        FlagGroup("voice", VoiceConfig, prefix="vocoder-", fields=("backend", "seed"), title="voice"),
        FlagGroup("sampling", SamplingConfig, title="sampling"),
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reply", help="generate one spoken reply (text + speech units) from audio or text")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--audio", help="the user's turn as an audio file (WAV/FLAC/OGG, any rate, mono or stereo)")
    src.add_argument("--text", help="the user's turn as text")
    p.add_argument("--history", help="JSON list of earlier turns: {role, text} or {role: user, audio: path}")
    p.add_argument("--system-prompt", default=None, help="system prompt (default: the reference's)")
    p.add_argument("--units-out", default=None, help="also write the speech units to this JSON file (default: none)")
    p.add_argument("--json-events", action="store_true", help="print every event as one JSON line")
    p.add_argument("--dump-logits", metavar="FILE.npz", help="save last-position logits of every LM step")
    p.add_argument("--out", help="reply WAV (22050 Hz) written chunk by chunk; needs --decoder")
    add_flags(p, flag_groups())
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> CompanionConfig:
    """One reply: no warm-up, and the fixed "fast" chunk schedule (nothing to plan for a file)."""
    base = CompanionConfig(warm_up=False, voice=VoiceConfig(schedule="fast"))
    config = apply_flags(base, args, flag_groups())
    if config.model.checkpoint is None:
        raise UserError("reply needs --checkpoint (a folder or a hub id)")
    if bool(config.model.decoder) != bool(args.out):
        raise UserError("--decoder and --out go together: give both to write the spoken reply")
    return config


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

    def __init__(self, vocoder, playback, out: str):
        import soundfile as sf
        import torch

        self._stream = vocoder.open_stream(playback.schedule, torch.Generator().manual_seed(playback.seed))
        self._file = sf.SoundFile(out, "w", samplerate=vocoder.sample_rate_hz, channels=1, subtype="PCM_16")
        self.n_samples = 0
        self.rate_hz = vocoder.sample_rate_hz

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
    from app.assembly import build

    config = build_config(args)
    conv = _conversation(args)
    companion = build(config, vocoder=bool(config.model.decoder), end_of_turn=False)
    wav = _WavSink(companion.vocoder, companion.playback, args.out) if companion.vocoder is not None else None
    recorder = _LogitsRecorder() if args.dump_logits else None
    stream = companion.runner.reply(conv, config.sampling, logits_sink=recorder)
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
