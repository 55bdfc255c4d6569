"""Frozen, validated configuration for the realtime engine: audio I/O and supervision. Each stage owns the rest:
turn taking (`core.turns.config`: VadConfig, EndOfTurnConfig), mic levels (`core.audio.levels.LevelConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.audio.duplex import DUPLEX_CHOICES
from core.audio.echo import EchoConfig
from core.audio.levels import LevelConfig
from core.options import check, opt
from core.turns.config import VAD_FRAME_MS, EndOfTurnConfig, VadConfig
from core.turns.transcript_config import TranscriptConfig


@dataclass(frozen=True)
class AudioConfig:
    """Audio devices. `None` device = the system default; rates `None` = the device's native rate."""

    input_device: int | str | None = opt(None, "input device name or index (see `devices`); default: the system's")
    output_device: int | str | None = opt(None, "output device name or index (see `devices`); default: the system's")
    input_rate_hz: int | None = opt(None, "force a capture rate in Hz (default: the device's)")
    output_rate_hz: int | None = opt(None, "force a playback rate in Hz (default: the device's)")
    input_block_ms: float = opt(20.0, "capture callback block")
    output_block_ms: float = opt(20.0, "playback callback block")
    input_queue_blocks: int = opt(200, "bounded capture queue (4 s at 20 ms); overflow drops blocks, counted")
    prebuffer_ms: float = opt(120.0, "jitter buffer fill before a reply starts playing")
    open_timeout_s: float = opt(5.0, "wait for the first capture callback (PulseAudio first use can take ~2 s)")
    stall_timeout_s: float = opt(3.0, "a stream still 'active' but without a callback this long counts as lost")

    def __post_init__(self) -> None:
        for name in ("input_rate_hz", "output_rate_hz"):
            rate = getattr(self, name)
            check(rate is None or 8000 <= rate <= 192000, f"{name} must be in [8000, 192000], got {rate}")
        check(
            2.0 <= self.input_block_ms <= 200.0,
            f"input_block_ms must be in [2, 200], got {self.input_block_ms}",
        )
        check(
            2.0 <= self.output_block_ms <= 200.0,
            f"output_block_ms must be in [2, 200], got {self.output_block_ms}",
        )
        check(self.input_queue_blocks >= 4, f"input_queue_blocks must be >= 4, got {self.input_queue_blocks}")
        check(0.0 <= self.prebuffer_ms <= 2000.0, f"prebuffer_ms must be in [0, 2000], got {self.prebuffer_ms}")
        check(self.open_timeout_s > 0, f"open_timeout_s must be > 0, got {self.open_timeout_s}")
        check(0.2 <= self.stall_timeout_s <= 60.0, f"stall_timeout_s must be in [0.2, 60], got {self.stall_timeout_s}")


INTERRUPTIONS = ("backchannel", "immediate")


@dataclass(frozen=True)
class EngineConfig:
    """Turn-taking and supervision. Provides what the turn stage reads (core.turns.config.TurnSettings)."""

    vad: VadConfig = field(default_factory=VadConfig)
    end_of_turn: EndOfTurnConfig = field(default_factory=EndOfTurnConfig)
    transcript: TranscriptConfig = field(default_factory=TranscriptConfig)  # the text end-of-turn signal's source
    audio: AudioConfig = field(default_factory=AudioConfig)
    levels: LevelConfig = field(default_factory=LevelConfig)  # MicLevel period, silence and noise warnings
    echo: EchoConfig = field(default_factory=EchoConfig)  # the canceller of the "speakers" duplex mode
    duplex: str = opt("auto", "speakers: echo cancellation, you can interrupt; headphones: no cancellation; half: the "
                              "mic is off while the app speaks; auto: from the output device's name",
                      choices=DUPLEX_CHOICES)
    barge_in_ms: float = opt(128.0, "user speech this long over a reply pauses it (full duplex)")
    over_reply_threshold: float = opt(0.25, "P(speech) that counts as voice over a reply (the echo canceller "
                                            "muffles the user's first words while the reply plays)")
    interruption: str = opt("backchannel", "backchannel: a paused reply resumes after a short backchannel "
                                           "('mm-hm') and stops for longer speech; immediate: it stops at once",
                            choices=INTERRUPTIONS)
    backchannel_ms: float = opt(800.0, "speech over a reply this long is an interruption; shorter, then a pause, is "
                                       "a backchannel")
    backchannel_gap_ms: float = opt(320.0, "silence after a short speech over a paused reply that resumes it")
    join_timeout_s: float = opt(3.0, "how long stop() waits for each worker thread")
    stop_timeout_s: float = opt(20.0, "how long stop() waits for a cancelled reply's threads (one decode step)")
    drain_timeout_s: float = opt(5.0, "a computed reply whose playback has not drained this long after its end")
    first_chunk_priority: bool = opt(True, "until the first audio chunk, no decode step while the vocoder computes")

    def __post_init__(self) -> None:
        check(isinstance(self.vad, VadConfig), "vad must be a VadConfig")
        check(isinstance(self.audio, AudioConfig), "audio must be an AudioConfig")
        check(isinstance(self.end_of_turn, EndOfTurnConfig), "end_of_turn must be an EndOfTurnConfig")
        check(isinstance(self.transcript, TranscriptConfig), "transcript must be a TranscriptConfig")
        check(isinstance(self.levels, LevelConfig), "levels must be a LevelConfig")
        check(isinstance(self.echo, EchoConfig), "echo must be an EchoConfig")
        check(self.duplex in DUPLEX_CHOICES, f"duplex must be one of {', '.join(DUPLEX_CHOICES)}, got {self.duplex!r}")
        check(self.interruption in INTERRUPTIONS,
              f"interruption must be one of {', '.join(INTERRUPTIONS)}, got {self.interruption!r}")
        check(
            VAD_FRAME_MS <= self.barge_in_ms <= 5000.0,
            f"barge_in_ms must be in [{VAD_FRAME_MS}, 5000], got {self.barge_in_ms}",
        )
        check(0.0 < self.over_reply_threshold < 1.0,
              f"over_reply_threshold must be in (0, 1), got {self.over_reply_threshold}")
        check(self.barge_in_ms <= self.backchannel_ms <= 5000.0,
              f"backchannel_ms must be in [barge_in_ms, 5000], got {self.backchannel_ms}")
        check(VAD_FRAME_MS <= self.backchannel_gap_ms <= 2000.0,
              f"backchannel_gap_ms must be in [{VAD_FRAME_MS}, 2000], got {self.backchannel_gap_ms}")
        check(self.join_timeout_s > 0, f"join_timeout_s must be > 0, got {self.join_timeout_s}")
        check(self.stop_timeout_s >= self.join_timeout_s, "stop_timeout_s must be >= join_timeout_s")
        check(self.drain_timeout_s > 0, f"drain_timeout_s must be > 0, got {self.drain_timeout_s}")

    @property
    def barge_in(self) -> bool:
        """The microphone stays live while the app speaks. "auto" counts as full duplex: the engine resolves it at
        start (core.audio.duplex.resolve_duplex) and runs with the resolved mode."""
        return self.duplex != "half"
