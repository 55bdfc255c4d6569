"""`listen`: run the listeners on a sound file (and optionally a reply text); print what they hear."""

from __future__ import annotations

import argparse
import logging
import threading

import numpy as np

from core.listeners import Listeners, ListenersConfig
from core.listeners.events import ListenerStatus, TurnEmotion, UserTranscript
from models.errors import AudioInputError
from models.rates import SPEECH_RATE_HZ as SAMPLE_RATE_HZ

log = logging.getLogger(__name__)

LOAD_TIMEOUT_S = 300.0  # hub downloads of base-size checkpoints
RUN_TIMEOUT_S = 300.0
TURN_ID = 0


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = ListenersConfig()
    p = subparsers.add_parser("listen", help="transcribe a WAV file and label user/assistant emotion")
    p.add_argument(
        "--audio", required=True, help="the user's turn: a WAV/FLAC file (any rate, mixed to mono)"
    )
    p.add_argument("--asr", default=defaults.asr_checkpoint, help="Whisper checkpoint dir or hub id")
    p.add_argument("--ser", default=defaults.ser_checkpoint, help="speech-emotion checkpoint dir or hub id")
    p.add_argument("--text-emotion", default=defaults.text_emotion_checkpoint, help="text-emotion checkpoint")
    p.add_argument("--text", default=None, help="an assistant reply to label")
    p.add_argument("--device", default=defaults.device, help="cpu | cuda (default: %(default)s)")
    p.add_argument("--offline", action="store_true", help="never reach the hub for checkpoint ids")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    samples = read_audio_16k(args.audio)
    config = ListenersConfig(
        asr_checkpoint=args.asr,
        ser_checkpoint=args.ser,
        text_emotion_checkpoint=args.text_emotion,
        text_emotion_enabled=args.text is not None,
        device=args.device,
        local_files_only=args.offline,
        worker_nice=0,  # nothing else to yield to here
        hold_until_first_audio=False,  # no reply audio here
    )
    printer = _Printer()
    with Listeners(config, printer) as listeners:
        listeners.wait_ready(LOAD_TIMEOUT_S)
        for status in listeners.status().values():
            print(status.describe(), flush=True)
        if not any(s.enabled for s in listeners.status().values()):
            return 1
        listeners.on_user_turn(TURN_ID, samples)
        if args.text is not None:
            listeners.on_assistant_text(TURN_ID, args.text)
            listeners.on_reply_end(TURN_ID)
        if not listeners.wait_idle(RUN_TIMEOUT_S):
            log.warning("listeners still busy after %.0f s", RUN_TIMEOUT_S)
    return 0


class _Printer:
    """The emit sink: prints final results (status changes are printed once, after loading)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, event: object) -> None:
        line = format_event(event)
        if line:
            with self._lock:
                print(line, flush=True)


def format_event(event: object) -> str | None:
    if isinstance(event, UserTranscript) and event.is_final:
        return f"transcript: {event.text}"
    if isinstance(event, TurnEmotion) and event.is_final:
        emo = event.emotion
        return f"{emo.source} emotion: {emo.label} ({emo.confidence:.2f})"
    if isinstance(event, ListenerStatus) and event.last_error:
        return f"{event.name} error: {event.last_error}"
    return None


def read_audio_16k(path: str) -> np.ndarray:
    """A sound file -> [N] float32 mono at 16 kHz, checked from its header before it is read (a folder, a device,
    an empty file or one over 600 s is refused). Raises AudioInputError."""
    from core.audio.clips import read_audio_samples, resample

    data, rate_hz = read_audio_samples(path)  # [N, C]
    mono = resample(data.mean(axis=1), rate_hz, SAMPLE_RATE_HZ)
    if not np.all(np.isfinite(mono)):
        raise AudioInputError(f"audio {path!r} contains NaN or infinite samples; the file is corrupt, re-export it")
    return np.ascontiguousarray(mono, dtype=np.float32)
