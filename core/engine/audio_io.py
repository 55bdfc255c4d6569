"""The engine's two devices: the speaker (fed by the jitter buffer) and the microphone (feeding the capture
thread), opened and closed together through the audio backend seam (core.seams.AudioBackend), and how they share
the room: the duplex mode, resolved once the output device is known, and in the "speakers" mode the echo
canceller's far-end reference tapped from the speaker's callback (core.audio.echo)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from core.audio.backend import AudioBackend
from core.audio.devices import DEVICE_RATE_HZ, MicCapture, SpeakerOutput
from core.audio.duplex import DuplexMode, resolve_duplex
from core.audio.echo import EchoCanceller, EchoConfig, EchoReference, echo_unavailable
from core.audio.playout import PlayoutBuffer
from core.engine.config import AudioConfig
from core.engine.events import ErrorKind
from models.errors import DeviceError

log = logging.getLogger(__name__)


class EngineAudio:
    def __init__(self, backend: AudioBackend | None, config: AudioConfig, playout: PlayoutBuffer,
                 prebuffer_ms: float | None = None, duplex: str = "auto", echo: EchoConfig | None = None) -> None:
        self._backend, self._cfg, self._playout = backend, config, playout
        self._prebuffer_ms = config.prebuffer_ms if prebuffer_ms is None else prebuffer_ms
        self._duplex_request, self._echo_cfg = duplex, echo or EchoConfig()
        self.capture: MicCapture | None = None
        self.speaker: SpeakerOutput | None = None
        self.opening = ErrorKind.OUTPUT_DEVICE  # which device a DeviceError from open() is about
        self.duplex, self.duplex_reason = DuplexMode.HALF, ""  # resolved by open()
        self._reference: EchoReference | None = None

    def echo_canceller(self) -> EchoCanceller | None:
        """A fresh canceller for the devices now open ("speakers" mode), else None: a new one per opening, so a
        device or rate change never inherits an echo path."""
        if self._reference is None:
            return None
        return EchoCanceller(self._echo_cfg, self._reference)

    @property
    def output_rate_hz(self) -> int:
        return self.speaker.rate_hz if self.speaker else DEVICE_RATE_HZ

    @property
    def output_latency_s(self) -> float:
        """PortAudio's reported output latency (played-to-audible), 0 when no output is open."""
        return self.speaker.latency_s if self.speaker else 0.0

    @property
    def dropped_input_blocks(self) -> int:
        return self.capture.dropped_blocks if self.capture else 0

    def open(self, on_lost: Callable[[ErrorKind], None]) -> None:
        """Speaker, then microphone (which must deliver a first block in time). Raises DeviceError; `opening`
        says which device failed. `on_lost(kind)` runs on PortAudio's thread when a device stops."""
        if self._backend is None:
            import sounddevice  # deferred: PortAudio enumerates devices once, at import

            self._backend = sounddevice
        a = self._cfg
        self.opening = ErrorKind.OUTPUT_DEVICE
        self.speaker = SpeakerOutput(self._backend, a.output_device, a.output_rate_hz, a.output_block_ms, self._playout)
        self.speaker.on_lost = lambda: on_lost(ErrorKind.OUTPUT_DEVICE)
        self.speaker.open()
        self._playout.set_prebuffer(int(self.speaker.rate_hz * self._prebuffer_ms / 1000))
        needs_echo = self._duplex_request in ("auto", "speakers")
        self.duplex, self.duplex_reason = resolve_duplex(self._duplex_request, self.speaker.name,
                                                         echo_unavailable() if needs_echo else None)
        self._reference = None
        if self.duplex.cancels_echo:
            self._reference = EchoReference(self.speaker.rate_hz, self._echo_cfg.reference_blocks)
            self.speaker.reference = self._reference
        log.info("duplex: %s (%s)", self.duplex.value, self.duplex_reason)
        self.opening = ErrorKind.INPUT_DEVICE
        self.capture = MicCapture(self._backend, a.input_device, a.input_rate_hz, a.input_block_ms,
                                  a.input_queue_blocks)
        self.capture.on_lost = lambda: on_lost(ErrorKind.INPUT_DEVICE)
        self.capture.open()
        if not self.capture.first_block.wait(a.open_timeout_s):
            raise DeviceError(
                f"Input device {self.capture.name!r} opened but delivered no audio within "
                f"{a.open_timeout_s:g} s; check the device or the sound server."
            )

    def stalled(self, stall_timeout_s: float) -> tuple[ErrorKind, float] | None:
        """(device, seconds without a callback or 0.0) of a stream that stopped without telling: inactive, or
        no callback for `stall_timeout_s`."""
        for dev, kind in ((self.capture, ErrorKind.INPUT_DEVICE), (self.speaker, ErrorKind.OUTPUT_DEVICE)):
            if dev is None:
                continue
            stalled_s = dev.stalled_s(stall_timeout_s)
            if dev.lost.is_set() or not dev.active or stalled_s:
                return kind, stalled_s
        return None

    def name(self, kind: ErrorKind) -> str:
        dev = self.capture if kind is ErrorKind.INPUT_DEVICE else self.speaker
        return dev.name if dev is not None else ""

    def close(self) -> None:
        for dev in (self.capture, self.speaker):
            if dev is not None:
                dev.close()
        self.capture = self.speaker = None
        self._reference = None
