"""The top status strip (state, mic level, listeners) and the bottom control bar (mode, talk, stop, type)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyleOptionFrame,
    QVBoxLayout,
    QWidget,
)

from ui.messages import INTERRUPT_HINT
from ui.theme import icon

log = logging.getLogger(__name__)

METER_FLOOR_DBFS = -60.0
METER_STEPS = 100
STATE_TEXT = {
    "idle": "Idle",
    "listening": "Listening",
    "thinking": "Thinking…",
    "speaking": "Speaking",
    "replaying": "Replaying a turn",
    "loading": "Loading model…",
    "no_model": "No model",
}
MODES = ("Hands-free", "Push-to-talk")
BUSY_STATES = ("thinking", "speaking")  # Stop has something to stop
MIC_OFF_NOTE = "Mic off while I speak"
ICON_PX = 16
ENTRY_WIDE_PX = 240  # the text box's least width beside the buttons; narrower, it takes a row of its own
TEXT_MARGIN_PX = 4  # QLineEdit's own margin around its text (2 px each side in Qt)
# the text box's hint, longest first: the longest that fits is shown (never "Type a mes…")
READY_HINTS = ("Type a message instead of speaking, then press Enter", "Type a message, then press Enter",
               "Type a message")
NO_MODEL_HINTS = ("Load a model first (download, open a folder, or try the demo)", "Load a model first",
                  "No model yet")


def meter_value(rms_dbfs: float) -> int:
    """dBFS -> 0..100 on a -60..0 dB scale."""
    frac = (max(METER_FLOOR_DBFS, min(0.0, rms_dbfs)) - METER_FLOOR_DBFS) / -METER_FLOOR_DBFS
    return round(frac * METER_STEPS)


class StatusStrip(QFrame):
    """State pill, mic level meter (and "mic off" in half-duplex while speaking), model label, listener lines.

    `set_listeners(lines)` takes (plain text, rich text) pairs; a rich line may hold a "download" link, which
    `download_requested(name)` reports."""

    download_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusStrip")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 8, 16, 6)
        outer.setSpacing(4)
        lay = QHBoxLayout()
        lay.setSpacing(10)
        outer.addLayout(lay)
        self.state = QLabel("", objectName="statePill")
        self.state.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.meter = QProgressBar(objectName="micMeter")
        self.meter.setRange(0, METER_STEPS)
        self.meter.setTextVisible(False)
        self.meter.setMinimumWidth(60)
        self.meter.setMaximumWidth(140)
        self.meter.setToolTip("Microphone level")
        self.mic_icon = QLabel(objectName="micIcon")
        self.mic_note = QLabel("", objectName="micNote")
        self.mic_note.setToolTip("Half-duplex: the microphone is ignored while the reply plays, so the app does "
                                 f"not answer itself. To interrupt by speaking, {INTERRUPT_HINT}.")
        self.model = QLabel("", objectName="modelLabel")
        self.model.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        for w in (self.state, self.mic_icon, self.meter, self.mic_note):
            lay.addWidget(w)
        lay.addWidget(self.model, 1)
        self.listeners = QLabel("", objectName="listenerLabel")
        self.listeners.setTextFormat(Qt.TextFormat.RichText)
        self.listeners.setWordWrap(True)  # at 800 px the three lines wrap instead of running off the edge
        self.listeners.linkActivated.connect(self._link)
        self.listeners.setVisible(False)
        outer.addWidget(self.listeners)
        self._mic_off = False
        self.refresh_icons()
        self.set_state("no_model")

    def refresh_icons(self) -> None:
        name = "mic-off" if self._mic_off else "mic"
        self.mic_icon.setPixmap(icon(name).pixmap(QSize(ICON_PX, ICON_PX)))

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

    def set_mic_off(self, off: bool) -> None:
        """Half-duplex while the reply plays: say that the microphone is not listening."""
        self._mic_off = off
        self.mic_note.setText(MIC_OFF_NOTE if off else "")
        self.refresh_icons()

    def set_model(self, label: str) -> None:
        self.model.setText(label)
        self.model.setToolTip(label)

    def set_listeners(self, lines: list[tuple[str, str]]) -> None:
        self.listeners.setText(" &nbsp;·&nbsp; ".join(rich for _plain, rich in lines))
        self.listeners.setVisible(bool(lines))
        self.listeners.setToolTip("\n".join(plain for plain, _rich in lines))

    def _link(self, href: str) -> None:
        if href.startswith("download:"):
            self.download_requested.emit(href.split(":", 1)[1])


class ModeToggle(QFrame):
    """Two-segment toggle (Hands-free | Push-to-talk) with a combo-box-like API for callers and tests."""

    currentIndexChanged = Signal(int)  # noqa: N815 (Qt naming)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modeToggle")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        for i, text in enumerate(MODES):
            b = QPushButton(text, objectName="modeLeft" if i == 0 else "modeRight")
            b.setCheckable(True)
            b.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            self._group.addButton(b, i)
            lay.addWidget(b)
        self._group.button(0).setChecked(True)
        self._group.idToggled.connect(self._toggled)

    def _toggled(self, index: int, checked: bool) -> None:
        if checked and not self.signalsBlocked():
            self.currentIndexChanged.emit(index)

    def currentIndex(self) -> int:  # noqa: N802
        return self._group.checkedId()

    def setCurrentIndex(self, index: int) -> None:  # noqa: N802
        self._group.button(index).setChecked(True)

    def button(self, index: int) -> QPushButton:
        return self._group.button(index)


class ShortcutEntry(QLineEdit):
    """A text box that lets the window's shortcuts through (QLineEdit claims Ctrl+E, Ctrl+N… for editing)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.app_shortcuts: set[str] = set()  # QKeySequence.toString() of the window's shortcuts
        self._hints: tuple[str, ...] = ()

    def set_placeholders(self, hints: tuple[str, ...]) -> None:
        """Placeholder texts, longest first: the longest that fits the box is shown, now and after each resize."""
        self._hints = hints
        self._fit_placeholder()

    def text_width(self) -> int:
        """Pixels the box has for its text (inside the style's padding and the line edit's own margins)."""
        opt = QStyleOptionFrame()
        self.initStyleOption(opt)
        rect = self.style().subElementRect(QStyle.SubElement.SE_LineEditContents, opt, self)
        margins = self.textMargins()
        return rect.width() - margins.left() - margins.right() - TEXT_MARGIN_PX

    def _fit_placeholder(self) -> None:
        if not self._hints:
            return
        metrics, room = self.fontMetrics(), self.text_width()
        fits = [h for h in self._hints if metrics.horizontalAdvance(h) <= room]
        self.setPlaceholderText(fits[0] if fits else self._hints[-1])

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit_placeholder()

    def event(self, ev: QEvent) -> bool:
        if ev.type() == QEvent.Type.ShortcutOverride:
            if QKeySequence(ev.keyCombination()).toString() in self.app_shortcuts:
                ev.ignore()  # not ours: the window's QAction fires
                return False
        return super().event(ev)


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
        lay = QGridLayout(self)
        lay.setContentsMargins(12, 8, 12, 10)
        lay.setHorizontalSpacing(8)
        lay.setVerticalSpacing(6)
        lay.setColumnStretch(3, 1)
        self.mode = ModeToggle()
        self.mode.currentIndexChanged.connect(lambda i: self.mode_changed.emit(i == 1))
        self.talk = QPushButton("Hold to talk", objectName="talkButton")
        self.talk.setToolTip("Push-to-talk: hold this button (or F2) while you speak")
        self.talk.pressed.connect(self.talk_pressed)
        self.talk.released.connect(self.talk_released)
        self.stop = QPushButton("Stop", objectName="stopButton")
        self.stop.setToolTip("Stop the reply (Esc)")
        self.stop.clicked.connect(self.stop_clicked)
        self.entry = ShortcutEntry(objectName="textEntry")
        self.entry.setMinimumWidth(120)
        self.entry.returnPressed.connect(self._send)
        self.send = QPushButton("Send", objectName="sendButton")
        self.send.clicked.connect(self._send)
        for w in (self.mode, self.talk, self.stop):
            w.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        for b in (self.mode.button(0), self.mode.button(1), self.talk, self.stop, self.send):
            b.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)  # never squeezed below the label
        self.narrow: bool | None = None
        self._arrange(narrow=False)
        self._ready = False
        self._busy = False
        self.refresh_icons()
        self.set_push_to_talk(False)
        self.set_ready(False)

    def wide_width(self) -> int:
        """The width the one-row arrangement needs: the buttons at their size and ENTRY_WIDE_PX for the text."""
        lay = self.layout()
        m = lay.contentsMargins()
        buttons = sum(w.sizeHint().width() for w in (self.mode, self.talk, self.stop, self.send))
        return m.left() + m.right() + buttons + ENTRY_WIDE_PX + 4 * lay.horizontalSpacing()

    def _arrange(self, narrow: bool) -> None:
        """One row, or (narrow) the buttons above a full-width text box: no label is ever squeezed."""
        if narrow == self.narrow:
            return
        self.narrow = narrow
        lay: QGridLayout = self.layout()
        for w in (self.mode, self.talk, self.stop, self.entry, self.send):
            lay.removeWidget(w)
        lay.addWidget(self.mode, 0, 0)
        lay.addWidget(self.talk, 0, 1)
        lay.addWidget(self.stop, 0, 2)
        if narrow:
            lay.addWidget(self.entry, 1, 0, 1, 4)
            lay.addWidget(self.send, 1, 4)
        else:
            lay.addWidget(self.entry, 0, 3)
            lay.addWidget(self.send, 0, 4)
        log.debug("control bar: %s", "two rows" if narrow else "one row")

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        """The two-row arrangement's minimum: the window may be made that narrow, and the bar then reflows."""
        lay = self.layout()
        m = lay.contentsMargins()
        row = sum(w.sizeHint().width() for w in (self.mode, self.talk, self.stop)) + 2 * lay.horizontalSpacing()
        width = m.left() + m.right() + max(row, self.entry.minimumSizeHint().width() + self.send.sizeHint().width())
        return QSize(width, super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self._arrange(narrow=event.size().width() < self.wide_width())
        super().resizeEvent(event)

    def refresh_icons(self) -> None:
        self.talk.setIcon(icon("mic", "white"))
        self.stop.setIcon(icon("stop", "red" if self.stop.isEnabled() else "gray"))
        self.send.setIcon(icon("send", "white"))

    def set_push_to_talk(self, on: bool) -> None:
        self.mode.blockSignals(True)
        self.mode.setCurrentIndex(1 if on else 0)
        self.mode.blockSignals(False)
        self.talk.setEnabled(on and self._ready)

    def set_ready(self, ready: bool) -> None:
        """A model is loaded: typing and talking work. Without one the text box says why it is off."""
        self._ready = ready
        self.entry.setEnabled(ready)
        self.send.setEnabled(ready)
        self.entry.set_placeholders(READY_HINTS if ready else NO_MODEL_HINTS)
        self.talk.setEnabled(ready and self.mode.currentIndex() == 1)
        self._refresh_stop()

    def set_busy(self, busy: bool) -> None:
        """Something is playing or being computed: Stop becomes active (red)."""
        self._busy = busy
        self._refresh_stop()

    def _refresh_stop(self) -> None:
        self.stop.setEnabled(self._ready and self._busy)
        self.stop.setIcon(icon("stop", "red" if self.stop.isEnabled() else "gray"))

    def _send(self) -> None:
        text = self.entry.text().strip()
        if text:
            self.entry.clear()
            self.text_submitted.emit(text)
