"""The top status strip (state, mic level, listeners) and the bottom control bar (talk, stop, type)."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)

METER_FLOOR_DBFS = -60.0
METER_STEPS = 100
STATE_TEXT = {
    "idle": "Idle",
    "listening": "Listening",
    "thinking": "Thinking…",
    "speaking": "Speaking",
    "loading": "Loading model…",
    "no_model": "No model",
}
LISTENER_LINE_CHARS = 56  # per listener in the strip; the tooltip has the whole line
MODES = ("Hands-free", "Push-to-talk")


def meter_value(rms_dbfs: float) -> int:
    """dBFS -> 0..100 on a -60..0 dB scale."""
    frac = (max(METER_FLOOR_DBFS, min(0.0, rms_dbfs)) - METER_FLOOR_DBFS) / -METER_FLOOR_DBFS
    return round(frac * METER_STEPS)


class StatusStrip(QFrame):
    """State pill, mic level meter, model label and listener statuses."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusStrip")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 8, 16, 6)
        outer.setSpacing(4)
        lay = QHBoxLayout()
        lay.setSpacing(12)
        outer.addLayout(lay)
        self.state = QLabel("", objectName="statePill")
        self.state.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.meter = QProgressBar(objectName="micMeter")
        self.meter.setRange(0, METER_STEPS)
        self.meter.setTextVisible(False)
        self.meter.setFixedWidth(140)
        self.meter.setToolTip("Microphone level")
        mic = QLabel("Mic", objectName="dimLabel")
        self.model = QLabel("", objectName="modelLabel")
        self.listeners = QLabel("", objectName="listenerLabel")
        self.listeners.setWordWrap(False)
        # never let long "off — reason" lines widen the window: the label is clipped, the tooltip has it all
        self.listeners.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.listeners.setMinimumWidth(0)
        for w in (self.state, mic, self.meter, self.model):
            lay.addWidget(w)
        lay.addStretch(1)
        outer.addWidget(self.listeners)
        self.set_state("no_model")

    def set_state(self, state: str) -> None:
        self.state.setText(STATE_TEXT.get(state, state))
        self.state.setProperty("state", state)
        self.state.style().unpolish(self.state)
        self.state.style().polish(self.state)

    @property
    def state_name(self) -> str:
        return str(self.state.property("state"))

    def set_level(self, rms_dbfs: float, ignored: bool) -> None:
        self.meter.setValue(0 if ignored else meter_value(rms_dbfs))

    def set_model(self, label: str) -> None:
        self.model.setText(label)

    def set_listeners(self, lines: list[str]) -> None:
        short = [line if len(line) <= LISTENER_LINE_CHARS else line[: LISTENER_LINE_CHARS - 1] + "…" for line in lines]
        self.listeners.setText("   ".join(short))
        self.listeners.setToolTip("\n".join(lines))


class ControlBar(QFrame):
    """Mode selector, talk (hold), stop, and a text box. Emits intents; the window decides."""

    talk_pressed = Signal()
    talk_released = Signal()
    stop_clicked = Signal()
    text_submitted = Signal(str)
    mode_changed = Signal(bool)  # push_to_talk

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("controlBar")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(16, 10, 16, 12)
        lay.setSpacing(8)
        self.mode = QComboBox(objectName="modeBox")
        self.mode.addItems(MODES)
        self.mode.currentIndexChanged.connect(lambda i: self.mode_changed.emit(i == 1))
        self.talk = QPushButton("Hold to talk", objectName="talkButton")
        self.talk.setToolTip("Push-to-talk: hold (or hold Space) while you speak")
        self.talk.pressed.connect(self.talk_pressed)
        self.talk.released.connect(self.talk_released)
        self.stop = QPushButton("■ Stop", objectName="stopButton")
        self.stop.setToolTip("Stop the reply (Esc)")
        self.stop.clicked.connect(self.stop_clicked)
        self.entry = QLineEdit(objectName="textEntry")
        self.entry.setPlaceholderText("Type a message instead of speaking, then press Enter")
        self.entry.returnPressed.connect(self._send)
        self.send = QPushButton("Send", objectName="sendButton")
        self.send.clicked.connect(self._send)
        for w in (self.mode, self.talk, self.stop):
            lay.addWidget(w)
        lay.addWidget(self.entry, 1)
        lay.addWidget(self.send)
        self.set_push_to_talk(False)

    def set_push_to_talk(self, on: bool) -> None:
        self.mode.blockSignals(True)
        self.mode.setCurrentIndex(1 if on else 0)
        self.mode.blockSignals(False)
        self.talk.setEnabled(on)

    def set_ready(self, ready: bool) -> None:
        for w in (self.entry, self.send, self.stop):
            w.setEnabled(ready)
        self.talk.setEnabled(ready and self.mode.currentIndex() == 1)

    def _send(self) -> None:
        text = self.entry.text().strip()
        if text:
            self.entry.clear()
            self.text_submitted.emit(text)
