"""View → What the app heard… (Ctrl+I): a tester's window over the turns of this session.

For the selected turn: the decision and why, the end-of-turn course of its last pause (`CoursePlot`: the audio and
text probabilities and the evidence or score against the silence, the commit / hold lines and the decision point),
and the timings from the end of speech. The records come from app.window.inspector_data, fed every session event
from the start (cheap), so opening the window late still shows the earlier turns. Off by default: a non-modal
window that only exists once asked for.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.window.inspector_data import HeardLog, HeardTurn, Series
from ui.conversation_view import printable
from ui.theme import is_dark

log = logging.getLogger(__name__)

TITLE = "What the app heard"
PLOT_MIN = (360, 200)
MARGIN = (44, 26, 16, 30)  # left, top (the legend), right, bottom (px)
COLORS = {"audio": "#3b7dd8", "text": "#2e9d5b", "evidence": "#e08a1e", "commit": "#c0392b", "hold": "#8e8e8e",
          "decision": "#c0392b"}
NONE_TEXT = "—"
# the app's dark sheet leaves item views to the palette, which stays light when the theme is forced dark
DARK_VIEWS = ("QListWidget, QTableWidget { background: #262b35; alternate-background-color: #2c313c; }"
              " QHeaderView::section { background: #2c313c; color: #e5e7eb; border: 0; padding: 3px; }")
TRANSCRIPT_CHARS = 30
ROW_PX = 22


class CoursePlot(QWidget):
    """The probabilities over one pause (QPainter). `series` holds what is drawn; None draws a note instead."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("coursePlot")
        self.setMinimumSize(*PLOT_MIN)
        self.series: Series | None = None
        self.note = ""

    def set_series(self, series: Series | None, note: str = "") -> None:
        self.series, self.note = series, note
        self.update()

    def x_range_ms(self) -> float:
        s = self.series
        if s is None:
            return 1.0
        return 1.05 * max(s.max_silence_ms, s.decision[0], *(x for x, _ in s.audio), 1.0)  # room for the end

    def _map(self, area: QRectF, x_ms: float, y: float) -> QPointF:
        return QPointF(area.left() + area.width() * x_ms / self.x_range_ms(), area.bottom() - area.height() * y)

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's name)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        dark = is_dark()
        fg, grid = QColor("#dddddd" if dark else "#333333"), QColor("#444444" if dark else "#e4e4e4")
        p.fillRect(self.rect(), QColor("#1e1e1e" if dark else "#ffffff"))
        left, top, right, bottom = MARGIN
        area = QRectF(left, top, max(1, self.width() - left - right), max(1, self.height() - top - bottom))
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        p.setFont(small)
        if self.series is None:
            p.setPen(fg)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.note)
            return
        self._axes(p, area, fg, grid)
        s = self.series
        for name, y in (("commit", s.commit), ("hold", s.hold)):
            if y is not None:
                p.setPen(QPen(QColor(COLORS[name]), 1, Qt.PenStyle.DashLine))
                a, b = self._map(area, 0, y), self._map(area, self.x_range_ms(), y)
                p.drawLine(a, b)
                p.drawText(QPointF(a.x() + 4, a.y() - 3), f"{name} {y:.2f}")
        self._line(p, area, s.audio, COLORS["audio"], 1.5)
        self._line(p, area, s.text, COLORS["text"], 1.5)
        self._line(p, area, s.evidence, COLORS["evidence"], 2.5)
        x, y = s.decision
        p.setPen(QPen(QColor(COLORS["decision"]), 1.5))
        p.drawLine(self._map(area, x, 0), self._map(area, x, 1))
        label, foot = f"{x:.0f} ms", self._map(area, x, 0)
        shift = -4 - p.fontMetrics().horizontalAdvance(label) if foot.x() > area.center().x() else 4
        p.drawText(foot + QPointF(shift, -4), label)
        if y is not None:
            p.setBrush(QColor(COLORS["decision"]))
            p.drawEllipse(self._map(area, x, y), 5, 5)
        self._legend(p, area, fg)

    def _axes(self, p: QPainter, area: QRectF, fg: QColor, grid: QColor) -> None:
        span = self.x_range_ms()
        step = 100.0 if span <= 600 else 200.0 if span <= 1500 else 500.0
        for k in range(int(span // step) + 1):
            a = self._map(area, k * step, 0)
            p.setPen(grid)
            p.drawLine(a, self._map(area, k * step, 1))
            p.setPen(fg)
            p.drawText(QRectF(a.x() - 30, area.bottom() + 2, 60, 14), Qt.AlignmentFlag.AlignHCenter, f"{k * step:g}")
        for y in (0.0, 0.5, 1.0):
            a = self._map(area, 0, y)
            p.setPen(grid)
            p.drawLine(a, self._map(area, span, y))
            p.setPen(fg)
            p.drawText(QRectF(0, a.y() - 7, area.left() - 4, 14), Qt.AlignmentFlag.AlignRight, f"{y:.1f}")
        p.drawText(QRectF(area.left(), area.bottom() + 14, area.width(), 14), Qt.AlignmentFlag.AlignHCenter,
                   "silence (ms)")
        p.drawRect(area)

    def _line(self, p: QPainter, area: QRectF, pts, color: str, width: float) -> None:
        if not pts:
            return
        path = QPainterPath(self._map(area, *pts[0]))
        for x, y in pts[1:]:
            path.lineTo(self._map(area, x, y))
        p.setPen(QPen(QColor(color), width))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(path)
        p.setBrush(QColor(color))
        for x, y in pts:
            p.drawEllipse(self._map(area, x, y), 2.5, 2.5)

    def _legend(self, p: QPainter, area: QRectF, fg: QColor) -> None:
        s = self.series
        items = [("audio", "audio P(finished)"), ("text", "text P(end)"), ("evidence", s.evidence_label),
                 ("decision", "decision")]
        x, y = area.left(), area.top() - 12  # above the plot: never over the data
        for key, label in items:
            if key == "text" and not s.text:
                continue
            p.setPen(QPen(QColor(COLORS[key]), 3))
            p.drawLine(QPointF(x, y), QPointF(x + 14, y))
            p.setPen(fg)
            w = p.fontMetrics().horizontalAdvance(label)
            p.drawText(QPointF(x + 18, y + 4), label)
            x += 18 + w + 14


class InspectorDialog(QDialog):
    """The turn list and the selected turn's decision, plot and timings."""

    def __init__(self, heard: HeardLog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heard = heard
        self.setObjectName("inspector")
        self.setWindowTitle(TITLE)
        self.setModal(False)
        self.turn_list = QListWidget(objectName="inspectorTurns", wordWrap=True, spacing=3)
        self.turn_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.turn_list.currentItemChanged.connect(lambda *_: self._show_selected())
        self.decision = QLabel(objectName="inspectorDecision")
        bold = QFont(self.decision.font())
        bold.setBold(True)
        self.decision.setFont(bold)
        self.why = QLabel(objectName="inspectorWhy", wordWrap=True)
        self.detail = QLabel(objectName="dimLabel", wordWrap=True)
        self.plot = CoursePlot()
        self.table = QTableWidget(0, 2, objectName="inspectorTimings")
        self.table.setHorizontalHeaderLabels(["event", "ms"])
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(ROW_PX)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        right = QWidget()
        col = QVBoxLayout(right)
        col.setContentsMargins(6, 0, 0, 0)
        for w in (self.decision, self.why, self.detail):
            col.addWidget(w)
        col.addWidget(self.plot, 3)
        col.addWidget(self.table, 2)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.turn_list)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([250, 570])
        lay = QHBoxLayout(self)
        lay.addWidget(split)
        self.resize(820, 560)
        if is_dark():
            self.setStyleSheet(DARK_VIEWS)
        self.refresh()

    # -- the list -------------------------------------------------------------------------------------------------
    def refresh(self, changed: int | None = None) -> None:
        """Rebuild the list (a new turn: select it), or update one row; the detail follows the selection."""
        selected = self.selected_id()
        at_end = selected is None or self.turn_list.currentRow() == self.turn_list.count() - 1
        ids = list(self.heard.turns)
        if changed is not None and changed in ids and self._row_of(changed) is not None:
            self.turn_list.item(self._row_of(changed)).setText(_row_text(self.heard.turns[changed]))
        else:
            self.turn_list.blockSignals(True)
            self.turn_list.clear()
            for tid in ids:
                item = QListWidgetItem(_row_text(self.heard.turns[tid]))
                item.setData(Qt.ItemDataRole.UserRole, tid)
                self.turn_list.addItem(item)
            self.turn_list.blockSignals(False)
            follow = changed if changed is not None and at_end else selected  # a new turn, if the last was shown
            row = self._row_of(follow) if follow is not None else None
            self.turn_list.setCurrentRow(row if row is not None else len(ids) - 1)
        self._show_selected()

    def select(self, turn_id: int) -> None:
        row = self._row_of(turn_id)
        if row is not None:
            self.turn_list.setCurrentRow(row)

    def selected_id(self) -> int | None:
        item = self.turn_list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def _row_of(self, turn_id: int) -> int | None:
        for i in range(self.turn_list.count()):
            if self.turn_list.item(i).data(Qt.ItemDataRole.UserRole) == turn_id:
                return i
        return None

    # -- the selected turn ------------------------------------------------------------------------------------
    def _show_selected(self) -> None:
        tid = self.selected_id()
        rec = self.heard.turns.get(tid) if tid is not None else None
        if rec is None:
            self.decision.setText("No turn yet: speak or type, and each turn appears here.")
            self.why.setText("")
            self.detail.setText("")
            self.plot.set_series(None, "")
            self.table.setRowCount(0)
            return
        self.decision.setText(f"Turn {rec.turn_id}: {rec.decision}")
        self.why.setText(rec.why())
        self.detail.setText(_detail(rec))
        self.plot.set_series(rec.series(), _plot_note(rec))
        rows = rec.timings()
        self.table.setHorizontalHeaderLabels(["event", f"ms after {rec.reference}"])
        self.table.setRowCount(len(rows))
        for i, (what, ms) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(what))
            cell = QTableWidgetItem(NONE_TEXT if ms is None else f"{ms:.0f}")
            cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(i, 1, cell)

    def timing_rows(self) -> list[tuple[str, str]]:
        """The table as shown (tests)."""
        return [(self.table.item(i, 0).text(), self.table.item(i, 1).text()) for i in range(self.table.rowCount())]


def _row_text(rec: HeardTurn) -> str:
    said = printable(rec.transcript).strip()
    said = said if len(said) <= TRANSCRIPT_CHARS else said[: TRANSCRIPT_CHARS - 1] + "…"
    rows = dict(rec.timings())
    sound = rows.get("first sound")
    timing = f" · sound +{sound:.0f} ms" if sound is not None else ""
    return f"#{rec.turn_id}  {rec.reason}{timing}\n{said or ' '}"


def _detail(rec: HeardTurn) -> str:
    parts = []
    if rec.transcript:
        parts.append(f"Heard: “{printable(rec.transcript).strip()}”")
    if rec.continues is not None:
        parts.append(f"It continues turn {rec.continues} (the user went on after its early commit).")
    if rec.continued_by is not None:
        parts.append(f"The user went on: turn {rec.continued_by} replaced this early commit.")
    if rec.reply:
        parts.append(f"Reply: {rec.reply}.")
    return "  ".join(parts)


def _plot_note(rec: HeardTurn) -> str:
    if rec.reason in ("typed", "submitted"):
        return "No pause to read: this turn was not ended by listening."
    if rec.reason == "max_length":
        return "No pause: the turn was cut at its maximum length."
    if rec.course is None or rec.course.policy == "vad":
        return "No end-of-turn model was asked: the VAD's silence alone ended this turn."
    return "The end-of-turn model was not asked during this pause."


class Inspector(QObject):
    """The window's inspector: records every session event; the dialog is made on first `show()`."""

    def __init__(self, window: QWidget, session) -> None:
        super().__init__(window)
        self.window = window
        self.heard = HeardLog()
        self.heard.on_change = self._changed
        self.dialog: InspectorDialog | None = None
        session.event.connect(self.heard.handle)

    def show(self) -> InspectorDialog:
        if self.dialog is None:
            self.dialog = InspectorDialog(self.heard, self.window)
            log.info("inspector opened (%d turns)", len(self.heard.turns))
        self.dialog.refresh()
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def toggle(self) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.hide()
        else:
            self.show()

    def _changed(self, turn_id: int) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.refresh(turn_id)
