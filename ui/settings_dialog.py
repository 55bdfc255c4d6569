"""Settings in groups: Audio, Turn-taking, Replies, Model, Listeners; one line of help each; Restore defaults.

`result_settings()` builds a new frozen `AppSettings`; a value the engine would refuse is shown in the dialog
(one line) and the dialog stays open.
"""

from __future__ import annotations

import dataclasses
import logging

from PySide6.QtCore import Qt, Signal
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
    QSizePolicy,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.config import COMPUTE_DEVICES
from app.hub import LISTENER_REPOS, approx_size_text
from app.settings import AppSettings
from core.audio.duplex import DUPLEX_CHOICES, DUPLEX_LABELS
from core.engine.config import INTERRUPTIONS
from core.options import HELP
from core.voice.config import BACKENDS as VOCODER_BACKENDS
from core.voice.config import SCHEDULES as VOCODER_SCHEDULES
from models.weights import WEIGHT_KINDS
from ui.theme import icon

log = logging.getLogger(__name__)

MAX_TOKENS_LIMIT = 8192
DEFAULT_SENTINEL = 0  # 0 in a token spin box = the checkpoint's default


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


DUPLEX_ITEMS = {choice: DUPLEX_LABELS[choice] for choice in DUPLEX_CHOICES}
INTERRUPTION_LABELS = {"backchannel": "Pause, resume after “mm-hm”", "immediate": "Stop at once"}


GROUPS = ("Audio", "Turn-taking", "Replies", "Model", "Listeners")
# (group, field attribute, label, one-line explanation)
ROWS = (
    ("Audio", "input_device", "Microphone", "Which input to listen to; empty = the system default."),
    ("Audio", "output_device", "Speaker", "Where replies play; empty = the system default."),
    ("Turn-taking", "start_threshold", "Speech sensitivity",
     "How sure the detector must be that you started speaking (lower = reacts to quieter speech)."),
    ("Turn-taking", "stop_threshold", "Speech end sensitivity",
     "Below this the detector counts silence; keep it under the sensitivity above."),
    ("Turn-taking", "end_silence", "Pause that ends your turn (ms)",
     "Used only while “Judge whether you finished” is off (or its model is missing); while it is on, the turn "
     "ends between 96 ms and the longest pause below."),
    ("Turn-taking", "speculate", "Start replying early after (ms)",
     "Work on the reply during your pause; it plays only if you stay quiet. 0 = off."),
    ("Turn-taking", "semantic", "Judge whether you finished",
     "Smart Turn listens to how your sentence ends: finished = a short pause ends the turn, unfinished = it waits "
     "longer. Off (or model missing): the pause above."),
    ("Turn-taking", "eot_commit", "Answer when sure you finished ≥",
     "The end-of-turn score that ends your turn. Higher = fewer replies that start before you finished, but a "
     "slower answer."),
    ("Turn-taking", "eot_commit_full", "… when you can interrupt ≥",
     "The same when you can interrupt (not half-duplex): going on speaking stops a reply that started too early, "
     "so the app may answer sooner."),
    ("Turn-taking", "eot_max", "Longest pause inside your turn (ms)",
     "How long the app waits when you seem unfinished."),
    ("Turn-taking", "duplex", "Microphone while the app speaks",
     "Speakers, Headphones: you can interrupt. Automatic: from the output device."),
    ("Turn-taking", "interruption_row", "When you talk over a reply",
     "Pause: a short “mm-hm”, then silence, lets it go on; longer speech stops it."),
    ("Replies", "prompt", "Personality (system prompt)", "Instructions the model reads before every turn."),
    ("Replies", "temperature", "Creativity (temperature)", "Higher = more varied replies, lower = steadier."),
    ("Replies", "top_p", "Word choice breadth (top-p)", "Only the most likely words adding up to this share."),
    ("Replies", "max_tokens", "Longest reply (tokens)", "Cut replies after this many text tokens."),
    ("Model", "compute", "Compute device", "Where the model runs; auto picks the GPU when there is one. "
     "Applies at the next load."),
    ("Model", "weights", "Memory saving (LM weights)", "int8 needs about half the GPU memory, a little slower; "
     "int4 needs CUDA. Next load."),
    ("Model", "backend", "Speech decoder engine", "torch, or onnx (onnxruntime). Next load."),
    ("Model", "schedule", "Speech start", "auto: chunk sizes and buffer planned from this machine's measured "
     "speed (no gaps); fast: fixed small chunks; smooth: fewer seams. Next load."),
    ("Listeners", "asr", "Transcript", "Writes down what you said (Whisper)."),
    ("Listeners", "ser", "Your emotion", "Guesses your emotion from your voice."),
    ("Listeners", "text_emotion", "Reply emotion", "Guesses the emotion of the reply's text."),
)
LISTENER_FIELDS = {"asr": "asr", "ser": "user_emotion", "text_emotion": "assistant_emotion"}


class SettingsDialog(QDialog):
    """Settings in tabs (Audio, Turn-taking, Replies, Model, Listeners), one line of help per setting, and
    Restore defaults. `download_listener(name)` asks the window to download a listener's model."""

    download_listener = Signal(str)

    def __init__(self, settings: AppSettings, devices: list[str] | None = None, parent: QWidget | None = None,
                 listener_lines: dict[str, str] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.setMinimumWidth(520)
        self._base = settings
        self._devices = devices or []
        self._listener_lines = listener_lines or {}
        self.result: AppSettings | None = None
        self.input_device = self._device_box()
        self.output_device = self._device_box()
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
        self.prompt.setFixedHeight(72)
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

    def _device_box(self) -> QComboBox:
        box = QComboBox()
        box.setEditable(True)
        box.addItem("")
        box.addItems(self._devices)
        box.lineEdit().setPlaceholderText("system default")
        box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        box.setMinimumContentsLength(24)
        return box

    def _layout(self) -> None:
        outer = QVBoxLayout(self)
        self.tabs = QTabWidget(objectName="settingsTabs")
        forms = {}
        for group in GROUPS:
            page = QWidget()
            form = QFormLayout(page)
            form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)  # label above: room at 800 px
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            forms[group] = form
            self.tabs.addTab(page, group)
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
        outer.addWidget(self.tabs, 1)
        outer.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.restore_button = buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        self.restore_button.clicked.connect(self.restore_defaults)
        outer.addWidget(buttons)

    def _show(self, s: AppSettings) -> None:
        """Put `s`'s values into the widgets."""
        self.input_device.setCurrentText(s.input_device or "")
        self.output_device.setCurrentText(s.output_device or "")
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
        self.backchannel.setEnabled(full and self.interruption.currentData() == "backchannel")

    def restore_defaults(self) -> None:
        """Every setting on this dialog back to its default (not saved until Save)."""
        self._show(AppSettings())
        self.error.setText("")

    def values(self) -> dict:
        return {
            "input_device": self.input_device.currentText().strip() or None,
            "output_device": self.output_device.currentText().strip() or None,
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
        try:
            self.result = dataclasses.replace(self._base, **self.values())
        except ValueError as err:
            self.error.setText(f"Not saved: {err}")
            return
        super().accept()
