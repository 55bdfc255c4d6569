"""Settings in groups: Audio, Turn-taking, Replies, Model, Listeners; one line of help each; Restore defaults.

Each tab scrolls, and the dialog is never taller than the screen's free area, so Save and Cancel stay on a 768 px
laptop. `accept()` builds a new frozen `AppSettings`; a value the engine would refuse is said in the dialog's own
labels (ui/settings_errors.py), its fields are marked (red border, focus) and the dialog stays open.
"""

from __future__ import annotations

import dataclasses
import logging

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.config import COMPUTE_DEVICES
from app.hub import LISTENER_REPOS, approx_size_text
from app.settings import AppSettings
from core.engine.config import INTERRUPTIONS
from core.options import HELP
from core.voice.config import BACKENDS as VOCODER_BACKENDS
from core.voice.config import SCHEDULES as VOCODER_SCHEDULES
from models.weights import WEIGHT_KINDS
from ui.settings_audio import as_devices, device_box, device_count, select_device
from ui.settings_errors import explain, mark_invalid, on_change
from ui.settings_rows import DUPLEX_ITEMS, GROUPS, INTERRUPTION_LABELS, LISTENER_FIELDS, ROW_OF, ROWS, SETTING
from ui.theme import icon

log = logging.getLogger(__name__)

MAX_TOKENS_LIMIT = 8192
DEFAULT_SENTINEL = 0  # 0 in a token spin box = the checkpoint's default
DIALOG_WIDTH_PX = 600
FRAME_RESERVE_PX = 48  # the window manager's title bar and frame, outside the dialog's own height
PROMPT_LINES = (3, 6)  # the system prompt box: at least / at most this many lines tall


def _spin(lo: float, hi: float, step: float, decimals: int = 2) -> QDoubleSpinBox:
    """A number box; its value comes from the settings shown (`_show`), so no default is written here."""
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    return box


def _int_spin(value: int | None) -> QSpinBox:
    box = QSpinBox()
    box.setRange(DEFAULT_SENTINEL, MAX_TOKENS_LIMIT)
    box.setSpecialValueText("checkpoint default")
    box.setValue(value or DEFAULT_SENTINEL)
    return box


def _optional_line(value: str | None) -> QLineEdit:
    edit = QLineEdit(value or "")
    edit.setPlaceholderText("off")
    edit.setMinimumWidth(260)
    edit.textChanged.connect(edit.setToolTip)
    return edit


def _combo(items) -> QComboBox:
    box = QComboBox()
    box.addItems(items)
    return box


def _choice_help(name: str) -> dict[str, str]:
    """{choice: its help} from a setting's help line written "a: what a does; b: what b does"."""
    text = {f.name: f for f in dataclasses.fields(AppSettings)}[name].metadata.get(HELP, "")
    parts = (part.partition(": ") for part in text.split("; "))
    return {key.strip(): what.strip() for key, sep, what in parts if sep}


def _choice_combo(labels: dict[str, str], tips: dict[str, str]) -> QComboBox:
    """Labels shown, the choice's value as the item data, its help as the item's (and the box's) tooltip."""
    box = QComboBox()
    for value, label in labels.items():
        box.addItem(label, value)
        box.setItemData(box.count() - 1, tips.get(value, ""), Qt.ItemDataRole.ToolTipRole)
    box.currentIndexChanged.connect(lambda i: box.setToolTip(tips.get(box.itemData(i), "")))
    box.setToolTip(tips.get(box.currentData(), ""))
    return box


def _select(box: QComboBox, value: str) -> None:
    box.setCurrentIndex(max(0, box.findData(value)))




class SettingsDialog(QDialog):
    """Settings in tabs (Audio, Turn-taking, Replies, Model, Listeners), one line of help per setting, and
    Restore defaults. `download_listener(name)` asks the window to download a listener's model."""

    download_listener = Signal(str)

    def __init__(self, settings: AppSettings, devices: list | None = None, parent: QWidget | None = None,
                 listener_lines: dict[str, str] | None = None):
        """`devices`: ui.settings_audio.AudioDevice's (or bare names: both input and output)."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self._base = settings
        self._devices = as_devices(devices or [])
        self._listener_lines = listener_lines or {}
        self.result: AppSettings | None = None
        self.invalid: list[str] = []  # the rows the last refusal marked
        self.input_device = device_box(self._devices, "input", settings.input_device)
        self.output_device = device_box(self._devices, "output", settings.output_device)
        self.barge_in = _spin(32, 2000, 16, 0)
        self.start_threshold = _spin(0.05, 0.99, 0.05)
        self.stop_threshold = _spin(0.01, 0.99, 0.05)
        self.end_silence = _spin(100, 5000, 50, 0)
        self.speculate = _spin(0, 5000, 50, 0)
        self.speculate.setSpecialValueText("off")
        self.semantic = QCheckBox("on (Smart Turn)")
        self.eot_commit = _spin(0.05, 1.0, 0.05, 3)
        self.eot_commit_full = _spin(0.05, 1.0, 0.05, 3)
        self.eot_max = _spin(160, 10000, 50, 0)
        self.duplex = _choice_combo(DUPLEX_ITEMS, _choice_help("duplex"))
        self.interruption = _choice_combo({k: INTERRUPTION_LABELS.get(k, k) for k in INTERRUPTIONS},
                                          _choice_help("interruption"))
        self.backchannel = _spin(100, 5000, 50, 0)
        self.backchannel.setSuffix(" ms")
        self.backchannel.setToolTip({f.name: f for f in dataclasses.fields(AppSettings)}["backchannel_ms"]
                                    .metadata.get(HELP, ""))
        self.interruption_row = QWidget()
        row = QHBoxLayout(self.interruption_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.interruption, 1)
        row.addWidget(QLabel("“mm-hm” up to"))
        row.addWidget(self.backchannel)
        for box in (self.duplex, self.interruption):
            box.currentIndexChanged.connect(self._enable_interruption)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("empty: the model's default (\"You are a helpful assistant.\")")
        line = self.prompt.fontMetrics().lineSpacing()
        self.prompt.setMinimumHeight(PROMPT_LINES[0] * line + 16)
        self.prompt.setMaximumHeight(PROMPT_LINES[1] * line + 16)
        self.temperature = _spin(0.0, 2.0, 0.05)
        self.top_p = _spin(0.05, 1.0, 0.05)
        self.max_tokens = _int_spin(None)
        self.compute = _combo(COMPUTE_DEVICES)
        self.weights = _combo(WEIGHT_KINDS)
        self.backend = _combo(VOCODER_BACKENDS)
        self.schedule = _combo(VOCODER_SCHEDULES)
        self.asr = _optional_line(None)
        self.ser = _optional_line(None)
        self.text_emotion = _optional_line(None)
        self.error = QLabel("", objectName="errorLabel")
        self.error.setWordWrap(True)
        self._layout()
        self._show(settings)
        for widget in (getattr(self, attr) for attr in SETTING):
            on_change(widget, lambda w=widget: mark_invalid(w, False))  # a changed field is no longer marked
        self.fit_to_screen()

    def _layout(self) -> None:
        outer = QVBoxLayout(self)
        self.tabs = QTabWidget(objectName="settingsTabs")
        self.pages: dict[str, QScrollArea] = {}
        forms = {}
        for group in GROUPS:
            page = QWidget(objectName="settingsPage")
            form = QFormLayout(page)
            form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)  # label above: room at 800 px
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            forms[group] = form
            scroll = QScrollArea(objectName="settingsScroll")  # a long tab scrolls; Save stays on screen
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setWidget(page)
            self.pages[group] = scroll
            self.tabs.addTab(scroll, group)
        self.help_labels: dict[str, QLabel] = {}
        for group, attr, label, help_text in ROWS:
            widget = getattr(self, attr)
            cell = QWidget()
            cell.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            col = QVBoxLayout(cell)
            col.setContentsMargins(0, 0, 0, 6)
            col.setSpacing(2)
            if attr in LISTENER_FIELDS:
                row = QHBoxLayout()
                row.addWidget(widget, 1)
                repo = LISTENER_REPOS[LISTENER_FIELDS[attr]]
                button = QPushButton(f"Download ({approx_size_text([repo]).removeprefix('about ')})")
                button.setToolTip(f"Download {repo} from the Hugging Face hub ({approx_size_text([repo])})")
                button.setIcon(icon("download"))
                button.clicked.connect(lambda _=False, n=LISTENER_FIELDS[attr]: self.download_listener.emit(n))
                row.addWidget(button)
                col.addLayout(row)
                status = self._listener_lines.get(LISTENER_FIELDS[attr])
                if status:
                    col.addWidget(QLabel(status, objectName="listenerStatus"))
            else:
                col.addWidget(widget)
            note = QLabel(help_text, objectName="settingHelp")
            note.setWordWrap(True)
            col.addWidget(note)
            self.help_labels[attr] = note
            forms[group].addRow(label, cell)
        forms["Listeners"].addRow(QLabel("A folder, or a hub id downloaded here (Download). Empty = off.",
                                         objectName="settingHelp"))
        n_in, n_out = device_count(self._devices, "input"), device_count(self._devices, "output")
        found = (f"Found {n_in} microphone{'s' * (n_in != 1)} and {n_out} speaker{'s' * (n_out != 1)} when this "
                 "dialog opened; plug a headset in, then open Settings again to see it." if self._devices else
                 "No sound devices were listed: the app uses the system default (or text only, without one).")
        self.devices_note = QLabel(found, objectName="settingHelp")
        self.devices_note.setWordWrap(True)
        forms["Audio"].addRow(self.devices_note)
        outer.addWidget(self.tabs, 1)
        outer.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.restore_button = buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        self.restore_button.clicked.connect(self.restore_defaults)
        outer.addWidget(buttons)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)

    def fit_to_screen(self, available: QRect | None = None) -> None:
        """As tall as the longest tab wants, but never taller than `available` (default: the free area of the
        screen the dialog or its parent is on) less the window frame; the tabs scroll inside."""
        if available is None:
            screen = self.screen() if self.parent() is None else self.parentWidget().screen()
            screen = screen or QGuiApplication.primaryScreen()
            available = screen.availableGeometry() if screen is not None else QRect(0, 0, 1366, 768)
        width = min(max(DIALOG_WIDTH_PX, self.minimumSizeHint().width()), available.width())
        inner = width - 2 * self.layout().contentsMargins().left() - 24  # the tab frame and a scroll bar
        tallest = max(scroll.widget().heightForWidth(inner) if scroll.widget().hasHeightForWidth()
                      else scroll.widget().sizeHint().height() for scroll in self.pages.values())
        chrome = self.sizeHint().height() - max(s.sizeHint().height() for s in self.pages.values())
        cap = available.height() - FRAME_RESERVE_PX
        self.setMaximumHeight(cap)
        self.setMinimumWidth(min(DIALOG_WIDTH_PX, available.width()))
        self.resize(width, min(tallest + chrome, cap))

    def _show(self, s: AppSettings) -> None:
        """Put `s`'s values into the widgets."""
        select_device(self.input_device, s.input_device)
        select_device(self.output_device, s.output_device)
        self.barge_in.setValue(s.barge_in_ms)
        self.start_threshold.setValue(s.vad_start_threshold)
        self.stop_threshold.setValue(s.vad_stop_threshold)
        self.end_silence.setValue(s.end_silence_ms)
        self.speculate.setValue(s.speculate_after_ms or 0)
        self.semantic.setChecked(s.semantic_end_of_turn)
        self.eot_commit.setValue(s.eot_commit_score)
        self.eot_commit_full.setValue(s.eot_full_duplex_commit_score)
        self.eot_max.setValue(s.eot_max_silence_ms)
        _select(self.duplex, s.duplex)
        _select(self.interruption, s.interruption)
        self.backchannel.setValue(s.backchannel_ms)
        self._enable_interruption()
        self.prompt.setPlainText(s.system_prompt)
        self.temperature.setValue(s.temperature)
        self.top_p.setValue(s.top_p)
        self.max_tokens.setValue(s.max_text_tokens or DEFAULT_SENTINEL)
        self.compute.setCurrentText(s.compute_device)
        self.weights.setCurrentText(s.weights)
        self.backend.setCurrentText(s.vocoder_backend)
        self.schedule.setCurrentText(s.vocoder_schedule)
        for edit, value in ((self.asr, s.asr_checkpoint), (self.ser, s.ser_checkpoint),
                            (self.text_emotion, s.text_emotion_checkpoint)):
            edit.setText(value or "")
            edit.setCursorPosition(0)
            edit.setToolTip(value or "")

    def _enable_interruption(self) -> None:
        """How an interruption goes means nothing in half-duplex; the "mm-hm" length only when replies pause."""
        full = self.duplex.currentData() != "half"
        self.interruption.setEnabled(full)
        self.barge_in.setEnabled(full)
        self.backchannel.setEnabled(full and self.interruption.currentData() == "backchannel")

    def restore_defaults(self) -> None:
        """Every setting on this dialog back to its default (not saved until Save)."""
        self._show(AppSettings())
        self.error.setText("")

    def values(self) -> dict:
        return {
            "input_device": self.input_device.currentData() or None,
            "output_device": self.output_device.currentData() or None,
            "barge_in_ms": self.barge_in.value(),
            "vad_start_threshold": self.start_threshold.value(),
            "vad_stop_threshold": self.stop_threshold.value(),
            "end_silence_ms": self.end_silence.value(),
            "speculate_after_ms": self.speculate.value() or None,
            "semantic_end_of_turn": self.semantic.isChecked(),
            "eot_commit_score": self.eot_commit.value(),
            "eot_full_duplex_commit_score": self.eot_commit_full.value(),
            "eot_max_silence_ms": self.eot_max.value(),
            "duplex": self.duplex.currentData(),
            "interruption": self.interruption.currentData(),
            "backchannel_ms": self.backchannel.value(),
            "system_prompt": self.prompt.toPlainText().strip(),
            "temperature": self.temperature.value(),
            "top_p": self.top_p.value(),
            "max_text_tokens": self.max_tokens.value() or None,
            "compute_device": self.compute.currentText(),
            "weights": self.weights.currentText(),
            "vocoder_backend": self.backend.currentText(),
            "vocoder_schedule": self.schedule.currentText(),
            "asr_checkpoint": self.asr.text().strip() or None,
            "ser_checkpoint": self.ser.text().strip() or None,
            "text_emotion_checkpoint": self.text_emotion.text().strip() or None,
        }

    def accept(self) -> None:
        for attr in SETTING:
            mark_invalid(getattr(self, attr), False)
        try:
            self.result = dataclasses.replace(self._base, **self.values())
        except ValueError as err:
            self.refuse(str(err))
            return
        super().accept()

    def refuse(self, message: str) -> None:
        """Say why nothing was saved in the dialog's labels, mark those fields, and show the first one."""
        labels = {SETTING[attr]: label for _g, attr, label, _h in ROWS if attr in SETTING}
        labels |= {SETTING[attr]: dict((a, lab) for _g, a, lab, _h in ROWS)[row] for attr, row in ROW_OF.items()}
        text, fields = explain(message, labels)
        log.info("settings not saved: %s", message)
        self.error.setText(f"Not saved: {text}")
        attr_of = {field: attr for attr, field in SETTING.items()}
        attrs = [attr_of[field] for field in fields if field in attr_of]  # the message's order: the culprit first
        for attr in attrs:
            mark_invalid(getattr(self, attr), True)
        if attrs:
            first = getattr(self, attrs[0])
            group = next(g for g, a, _l, _h in ROWS if a in (attrs[0], ROW_OF.get(attrs[0])))
            self.tabs.setCurrentWidget(self.pages[group])
            self.pages[group].ensureWidgetVisible(first)
            first.setFocus()
        self.invalid = attrs

