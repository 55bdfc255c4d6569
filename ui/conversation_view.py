"""The conversation: a scrolling column of turn bubbles (user right, assistant left).

Each bubble shows the role, the text (growing token by token for replies), the emotion label with its
confidence (hidden when the tester turns emotions off) and a replay button once the turn has audio.
Styles come from assets/style.qss through object names and the `role` property.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.readable import NOTHING_READABLE, readable, shown_text
from ui.theme import icon

log = logging.getLogger(__name__)

BUBBLE_MAX_FRACTION = 0.78  # of the view's width
SCROLL_DELAY_MS = 0
BUBBLE_PADDING_PX = 30  # left + right content margins plus the frame
MIN_TEXT_WIDTH_PX = 120
QWIDGETSIZE_MAX = (1 << 24) - 1
LONG_RUN_CHARS = 24  # break runs without spaces (random-weight gibberish) so they can wrap
ZERO_WIDTH_SPACE = "\u200b"
ROLE_TITLES = {"user": "You", "assistant": "Companion"}
ICON_PX = 14
EMPTY_HINT = ("Say something — I am listening. Or type below and press Enter.\n"
              "Hold F2 to talk in any mode; Esc stops a reply; Help → Keyboard shortcuts lists the rest.")

__all__ = ["NOTHING_READABLE", "ConversationView", "TurnBubble", "bubble_text", "printable"]


def printable(text: str) -> str:
    """Model text for display: `app.readable.readable` (control characters and U+FFFD dropped), and very long
    runs without a space get zero-width break points so they wrap instead of being clipped."""
    out, run = [], 0
    for ch in readable(text):
        run = 0 if ch.isspace() else run + 1
        out.append(ch)
        if run >= LONG_RUN_CHARS:
            out.append(ZERO_WIDTH_SPACE)
            run = 0
    return "".join(out)


def bubble_text(text: str) -> str:
    """What a bubble shows for model text: `printable(app.readable.shown_text(text))`, NOTHING_READABLE when the
    text held only unprintable characters (a random-weight demo). The bubble's body and its notes ("interrupted —
    heard: …") both use it."""
    return printable(shown_text(text))


class TurnBubble(QFrame):
    replay_requested = Signal(str, int)  # role, turn_id

    def __init__(self, role: str, turn_id: int, show_emotion: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role, self.turn_id = role, turn_id
        self.setObjectName("bubble")
        self.setProperty("role", role)
        self._raw_text = ""
        self._emotion_text = ""
        self._emotion: tuple[str, float] | None = None
        self._show_emotion = show_emotion
        self._build()

    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 10, 14, 10)
        lay.setSpacing(4)
        head = QHBoxLayout()
        head.setSpacing(6)
        self.title = QLabel(ROLE_TITLES.get(self.role, self.role), objectName="bubbleTitle")
        self.kind_icon = QLabel(objectName="bubbleIcon")  # a microphone on spoken turns
        self.kind_icon.setVisible(False)
        self.replay = QToolButton(objectName="replayButton", text="Replay")
        self.replay.setToolTip("Play this turn again")
        self.replay.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.replay.setVisible(False)
        self.replay.clicked.connect(lambda: self.replay_requested.emit(self.role, self.turn_id))
        head.addWidget(self.title)
        head.addWidget(self.kind_icon)
        head.addStretch(1)
        head.addWidget(self.replay)
        lay.addLayout(head)
        # its own line, wrapped: "interrupted — heard: …" never runs under the Replay button
        self.note = QLabel("", objectName="bubbleNote")
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        lay.addWidget(self.note)
        self.text = QLabel("", objectName="bubbleText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        lay.addWidget(self.text)
        chip_row = QHBoxLayout()  # the chip keeps its own width instead of stretching across the bubble
        self.emotion = QLabel("", objectName="emotionLabel")
        self.emotion.setVisible(False)
        self.emotion.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        chip_row.addWidget(self.emotion)
        chip_row.addStretch(1)
        lay.addLayout(chip_row)
        self._replaying = False
        self.refresh_icons()

    def refresh_icons(self) -> None:
        tone = "white" if self.role == "user" else "gray"
        self.kind_icon.setPixmap(icon("mic", tone).pixmap(QSize(ICON_PX, ICON_PX)))
        self.replay.setIcon(icon("stop" if self._replaying else "play", tone))

    # -- content ---------------------------------------------------------------------------------------------
    @property
    def plain_text(self) -> str:
        """What the bubble shows (control characters dropped, see `printable`)."""
        return self.text.text()

    @property
    def raw_text(self) -> str:
        """Everything streamed into the bubble, as the model wrote it."""
        return self._raw_text

    def set_text(self, text: str) -> None:
        self._raw_text = text
        shown = bubble_text(text)  # "(nothing readable)" for e.g. a random demo listener's transcript
        self.text.setText(shown)
        self._fit_width(shown)

    def _fit_width(self, shown: str) -> None:
        """Short texts keep their natural width on one line; longer ones wrap at the bubble's width."""
        self.text.ensurePolished()  # the style sheet's font, not the default one
        metrics = self.text.fontMetrics()
        natural = max((metrics.horizontalAdvance(line) for line in shown.split("\n")), default=0) + 2
        limit = max(self.maximumWidth() - BUBBLE_PADDING_PX, MIN_TEXT_WIDTH_PX)
        if natural <= limit:
            self.text.setWordWrap(False)
            self.text.setMinimumWidth(0)
            self.text.setMaximumWidth(QWIDGETSIZE_MAX)
        else:
            self.text.setWordWrap(True)
            self.text.setFixedWidth(limit)

    def setMaximumWidth(self, width: int) -> None:  # noqa: N802 (Qt override)
        super().setMaximumWidth(width)
        self._fit_width(self.text.text())
        self._fit_note()

    def _fit_note(self) -> None:
        """A short note ("typed · reply stopped") keeps one line even when the text is shorter; a long one wraps."""
        self.note.ensurePolished()
        natural = self.note.fontMetrics().horizontalAdvance(self.note.text()) + 2
        self.note.setMinimumWidth(min(natural, max(self.maximumWidth() - BUBBLE_PADDING_PX, MIN_TEXT_WIDTH_PX)))

    def append_text(self, delta: str) -> None:
        self.set_text(self._raw_text + delta)

    def set_note(self, note: str) -> None:
        self.note.setText(note)
        self.note.setVisible(bool(note))
        self._fit_note()

    def set_spoken(self, spoken: bool) -> None:
        self.kind_icon.setVisible(spoken)
        self.kind_icon.setToolTip("spoken" if spoken else "")

    def set_emotion(self, label: str, confidence: float, final: bool) -> None:
        self._emotion = (label, confidence)
        suffix = "" if final else " …"
        self._emotion_text = f"{label} · {confidence:.0%}{suffix}"
        self._refresh_emotion()

    def settle_emotion(self) -> tuple[str, float] | None:
        """The reply ended (or was interrupted): a provisional label becomes its last value, without "…".
        Returns (label, confidence) when it settled one."""
        if self._emotion is not None and self._emotion_text.endswith(" …"):
            self.set_emotion(*self._emotion, final=True)
            return self._emotion
        return None

    def set_show_emotion(self, show: bool) -> None:
        self._show_emotion = show
        self._refresh_emotion()

    def _refresh_emotion(self) -> None:
        self.emotion.setText(f"emotion: {self._emotion_text}")
        self.emotion.setVisible(self._show_emotion and bool(self._emotion_text))

    def set_replayable(self, on: bool) -> None:
        self.replay.setVisible(on)

    def set_replaying(self, on: bool) -> None:
        """While this turn replays its button is Stop."""
        self._replaying = on
        self.replay.setText("Stop" if on else "Replay")
        self.replay.setToolTip("Stop the replay" if on else "Play this turn again")
        self.refresh_icons()

    @property
    def replaying(self) -> bool:
        return self._replaying


class ConversationView(QScrollArea):
    """`bubble(role, turn_id)` creates on first use; `clear()`; `set_show_emotion(bool)`."""

    replay_requested = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversation")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._column = QWidget(objectName="conversationColumn")
        self._layout = QVBoxLayout(self._column)
        self._layout.setContentsMargins(16, 16, 16, 16)
        self._layout.setSpacing(10)
        self.hint = QLabel(EMPTY_HINT, objectName="emptyHint")
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._layout.addWidget(self.hint)  # [hint, rows…, stretch]: rows stack from the top
        self._layout.addStretch(1)
        self.setWidget(self._column)
        self._bubbles: dict[tuple[str, int], TurnBubble] = {}
        self._show_emotion = True
        self.verticalScrollBar().rangeChanged.connect(self._stick_to_bottom)

    def bubble(self, role: str, turn_id: int) -> TurnBubble:
        key = (role, turn_id)
        if key not in self._bubbles:
            b = TurnBubble(role, turn_id, self._show_emotion, self._column)
            b.replay_requested.connect(self.replay_requested)
            b.setMaximumWidth(int(max(self.viewport().width(), 400) * BUBBLE_MAX_FRACTION))
            row = QHBoxLayout()
            if role == "user":
                row.addStretch(1)
            row.addWidget(b)
            if role != "user":
                row.addStretch(1)
            self._layout.insertLayout(self._layout.count() - 1, row)
            self._bubbles[key] = b
            self.hint.setVisible(False)
        return self._bubbles[key]

    def rekey(self, role: str, old_id: int, new_id: int) -> TurnBubble | None:
        """Give a bubble a new turn id (the live "hearing…" bubble becomes the captured turn)."""
        b = self._bubbles.pop((role, old_id), None)
        if b is not None:
            b.turn_id = new_id
            self._bubbles[(role, new_id)] = b
        return b

    def remove(self, role: str, turn_id: int) -> None:
        b = self._bubbles.pop((role, turn_id), None)
        if b is not None:
            b.hide()
            b.deleteLater()

    def find(self, role: str, turn_id: int) -> TurnBubble | None:
        return self._bubbles.get((role, turn_id))

    def bubbles(self) -> list[TurnBubble]:
        return list(self._bubbles.values())

    def clear(self) -> None:
        while self._layout.count() > 2:  # the hint and the final stretch stay
            item = self._layout.takeAt(1)
            row = item.layout()
            while row is not None and row.count():
                w = row.takeAt(0).widget()
                if w is not None:
                    w.hide()  # at once: deleteLater waits for the event loop
                    w.deleteLater()
        self._bubbles.clear()
        self.hint.setVisible(True)

    def refresh_icons(self) -> None:
        for b in self._bubbles.values():
            b.refresh_icons()

    def set_show_emotion(self, show: bool) -> None:
        self._show_emotion = show
        for b in self._bubbles.values():
            b.set_show_emotion(show)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        width = int(max(self.viewport().width(), 400) * BUBBLE_MAX_FRACTION)
        for b in self._bubbles.values():
            b.setMaximumWidth(width)

    def _stick_to_bottom(self, _min: int, maximum: int) -> None:
        # `self` as the context: a view deleted before the timer fires cancels it (no call into a deleted object)
        QTimer.singleShot(SCROLL_DELAY_MS, self, lambda: self.verticalScrollBar().setValue(maximum))
