"""The Settings dialog's device lists: the devices PortAudio reports, as inputs and outputs, under names a person
reads ("pulse" is "System default (PulseAudio)"); blank names never shown; a saved device that is not connected now
stays choosable, marked so.

`audio_devices(backend)` reads them (sounddevice-like, as `main.py devices` does); `device_box(devices, kind,
current)` makes the combo box: the item's data is the setting's value ("" = the system default).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

log = logging.getLogger(__name__)

AUTOMATIC = "Automatic — the system default"
# PortAudio's ALSA names for the sound server and the system's default route
SOUND_SERVERS = {"pulse": "PulseAudio", "pipewire": "PipeWire", "jack": "JACK", "default": "ALSA"}
ALSA_NAMES = {"sysdefault": "ALSA system default (sysdefault)", "dmix": "ALSA mixer (dmix)"}
MISSING = "not connected now"


@dataclass(frozen=True)
class AudioDevice:
    name: str
    inputs: int
    outputs: int
    rate_hz: int = 0


def audio_devices(backend) -> list[AudioDevice]:
    """Every device `backend.query_devices()` lists with a name ([] when there is no sound system). `backend` None:
    sounddevice itself (imported here: PortAudio enumerates the devices at import)."""
    if backend is None:
        try:
            import sounddevice as backend
        except (ImportError, OSError) as err:
            log.info("no audio device list: %s", err)
            return []
    try:
        found = backend.query_devices()
    except Exception as err:  # PortAudio raises its own types
        log.info("no audio device list: %s", err)
        return []
    if isinstance(found, dict):  # one device (the test and text-only backends)
        found = [found]
    out, seen = [], set()
    for d in found:
        name = str(d.get("name") or "").strip()
        if not name or name in seen:
            continue
        seen.add(name)
        out.append(AudioDevice(name, int(d.get("max_input_channels") or 0), int(d.get("max_output_channels") or 0),
                               int(d.get("default_samplerate") or 0)))
    return out


def as_devices(devices: list) -> list[AudioDevice]:
    """`AudioDevice`s from a list of them or of bare names (a name: both an input and an output)."""
    return [d if isinstance(d, AudioDevice) else AudioDevice(str(d), 1, 1) for d in devices
            if (d.name if isinstance(d, AudioDevice) else str(d)).strip()]


def device_label(name: str) -> str:
    """What the list shows for a PortAudio device name."""
    low = name.strip().lower()
    if low in SOUND_SERVERS:
        return f"System default ({SOUND_SERVERS[low]})"
    return ALSA_NAMES.get(low, name.strip())


def device_box(devices: list[AudioDevice], kind: str, current: str | None) -> QComboBox:
    """A combo box of the devices that can `kind` ("input" | "output"), AUTOMATIC first; `current` selected (added,
    marked MISSING, when it is not connected now)."""
    box = QComboBox()
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(24)
    box.addItem(AUTOMATIC, "")
    box.setItemData(0, "The device the operating system uses by default.", Qt.ItemDataRole.ToolTipRole)
    for d in devices:
        channels = d.inputs if kind == "input" else d.outputs
        if channels < 1:
            continue
        box.addItem(device_label(d.name), d.name)
        tip = f"{d.name}: {channels} {kind} channel{'s' if channels > 1 else ''}"
        box.setItemData(box.count() - 1, tip + (f", {d.rate_hz} Hz" if d.rate_hz else ""),
                        Qt.ItemDataRole.ToolTipRole)
    select_device(box, current)
    return box


def select_device(box: QComboBox, value: str | None) -> None:
    value = (value or "").strip()
    index = box.findData(value)
    if index < 0:
        box.addItem(f"{device_label(value)} ({MISSING})", value)
        index = box.count() - 1
    box.setCurrentIndex(index)


def device_count(devices: list[AudioDevice], kind: str) -> int:
    return sum(1 for d in devices if (d.inputs if kind == "input" else d.outputs) > 0)
