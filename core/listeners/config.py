"""Listener configuration: checkpoints, enable flags, pacing and compute limits (frozen, validated)."""

from __future__ import annotations

from dataclasses import dataclass

from core.options import opt

DEFAULT_ASR_CHECKPOINT = "openai/whisper-base.en"
DEFAULT_SER_CHECKPOINT = "superb/wav2vec2-base-superb-er"
DEFAULT_TEXT_EMOTION_CHECKPOINT = "j-hartmann/emotion-english-distilroberta-base"

_DEVICES = ("cpu", "cuda")
_MAX_NICE = 19


@dataclass(frozen=True)
class ListenersConfig:
    """What the listeners load and how hard they may work.

    A checkpoint is a local directory (absolute, `./`, `~` or existing path) or a hub id; `None` or an
    `*_enabled=False` flag turns that listener off with the reason "disabled in config".
    """

    asr_checkpoint: str | None = opt(DEFAULT_ASR_CHECKPOINT, "transcript listener checkpoint: a folder or a hub id "
                                                             "(none = off)")
    ser_checkpoint: str | None = opt(DEFAULT_SER_CHECKPOINT, "user-emotion listener checkpoint: a folder or a hub id "
                                                             "(none = off)")
    text_emotion_checkpoint: str | None = opt(DEFAULT_TEXT_EMOTION_CHECKPOINT, "reply-emotion listener checkpoint: a "
                                                                               "folder or a hub id (none = off)")
    asr_enabled: bool = opt(True, "run the transcript listener")
    ser_enabled: bool = opt(True, "run the user-emotion listener")
    text_emotion_enabled: bool = opt(True, "run the reply-emotion listener")
    partial_interval_ms: int = opt(700, "at most one partial re-transcription per interval")
    partial_min_audio_ms: int = opt(400, "no partial before this much speech is buffered")
    text_emotion_interval_ms: int = opt(500, "at most one assistant-emotion update per interval while text grows")
    asr_max_new_tokens: int = opt(128, "per 30 s window")
    asr_language: str | None = opt(None, "only for multilingual Whisper checkpoints, e.g. 'en'")
    ser_max_audio_ms: int = opt(20_000, "SER looks at the last this-many ms of a turn")
    text_max_tokens: int = opt(256, "reply text is truncated to this many tokens (the start is kept)")
    device: str = opt("cpu", "'cpu' | 'cuda' | 'cuda:N'")
    torch_threads: int = opt(1, "intra-op threads per listener worker thread")
    worker_nice: int = opt(10, "nice increment for listener worker threads (Linux; 0 = unchanged)")
    local_files_only: bool = opt(False, "never reach the hub for checkpoint ids")
    max_consecutive_failures: int = opt(3, "a listener turns off after this many failed requests in a row")
    hold_until_first_audio: bool = opt(True, "on_user_turn holds listener work until on_reply_first_audio")
    max_pause_ms: int = opt(3_000, "a hold / `Listeners.pause()` ends by itself after this long")

    def __post_init__(self) -> None:
        _check_positive(
            self, "partial_interval_ms", "partial_min_audio_ms", "text_emotion_interval_ms", allow_zero=True
        )
        _check_positive(
            self,
            "asr_max_new_tokens",
            "ser_max_audio_ms",
            "text_max_tokens",
            "torch_threads",
            "max_consecutive_failures",
            "max_pause_ms",
        )
        if not 0 <= self.worker_nice <= _MAX_NICE:
            raise ValueError(f"worker_nice must be in [0, {_MAX_NICE}], got {self.worker_nice}")
        if self.device.split(":", 1)[0] not in _DEVICES:
            raise ValueError(f"device must be one of {_DEVICES} (optionally 'cuda:N'), got {self.device!r}")
        for name in ("asr_checkpoint", "ser_checkpoint", "text_emotion_checkpoint"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{name} must be a non-empty path or hub id, or None; got {value!r}")


def _check_positive(cfg: ListenersConfig, *names: str, allow_zero: bool = False) -> None:
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an int, got {value!r}")
        if value < 0 or (value == 0 and not allow_zero):
            raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
