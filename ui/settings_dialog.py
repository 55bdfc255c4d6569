"""Settings: devices, turn detection, barge-in, system prompt, sampling, compute device, weights, vocoder backend.

`result_settings()` builds a new frozen `AppSettings`; a value the engine would refuse is shown in the dialog
(one line) and the dialog stays open.
"""

from __future__ import annotations

import dataclasses
import logging

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.settings import COMPUTE_DEVICES, VOCODER_BACKENDS, VOCODER_SCHEDULES, AppSettings
from models.weights import WEIGHT_KINDS

log = logging.getLogger(__name__)

MAX_TOKENS_LIMIT = 8192
DEFAULT_SENTINEL = 0  # 0 in a token spin box = the checkpoint's default


def _spin(lo: float, hi: float, value: float, step: float, decimals: int = 2) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    return box


def _int_spin(value: int | None) -> QSpinBox:
    box = QSpinBox()
    box.setRange(DEFAULT_SENTINEL, MAX_TOKENS_LIMIT)
    box.setSpecialValueText("checkpoint default")
    box.setValue(value or DEFAULT_SENTINEL)
    return box


def _optional_line(value: str | None) -> QLineEdit:
    edit = QLineEdit(value or "")
    edit.setPlaceholderText("off (a local folder, or a hub id already in the cache)")
    return edit


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, devices: list[str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self._base = settings
        self.result: AppSettings | None = None
        s = settings
        self.input_device = self._device_box(devices or [], s.input_device)
        self.output_device = self._device_box(devices or [], s.output_device)
        self.start_threshold = _spin(0.05, 0.99, s.vad_start_threshold, 0.05)
        self.stop_threshold = _spin(0.01, 0.99, s.vad_stop_threshold, 0.05)
        self.end_silence = _spin(100, 5000, s.end_silence_ms, 50, 0)
        self.speculate = _spin(0, 5000, s.speculate_after_ms or 0, 50, 0)
        self.speculate.setSpecialValueText("off")
        self.speculate.setToolTip("Start computing the reply after this pause; it plays only if the turn ends.")
        self.semantic = QCheckBox("Smart Turn judges whether the sentence is finished")
        self.semantic.setChecked(s.semantic_end_of_turn)
        self.semantic.setToolTip("On: a finished sentence ends the turn after a short pause, an unfinished one waits "
                                 "up to the longest pause. Off (or model missing): the end-of-turn silence above.")
        self.eot_commit = _spin(0.05, 1.0, s.eot_commit_prob, 0.05)
        self.eot_hold = _spin(0.0, 0.95, s.eot_hold_prob, 0.05)
        self.eot_max = _spin(160, 10000, s.eot_max_silence_ms, 50, 0)
        self.barge_in = QCheckBox("speech interrupts replies (headphones)")
        self.barge_in.setChecked(s.barge_in)
        self.prompt = QPlainTextEdit(s.system_prompt)
        self.prompt.setPlaceholderText("empty: the model's default (\"You are a helpful assistant.\")")
        self.prompt.setFixedHeight(64)
        self.temperature = _spin(0.0, 2.0, s.temperature, 0.05)
        self.top_p = _spin(0.05, 1.0, s.top_p, 0.05)
        self.max_tokens = _int_spin(s.max_text_tokens)
        self.compute = QComboBox()
        self.compute.addItems(COMPUTE_DEVICES)
        self.compute.setCurrentText(s.compute_device)
        self.weights = QComboBox()
        self.weights.addItems(WEIGHT_KINDS)
        self.weights.setCurrentText(s.weights)
        self.weights.setToolTip("int8 halves the LLM's memory on a GPU (slower per step); int4 needs CUDA")
        self.backend = QComboBox()
        self.backend.addItems(VOCODER_BACKENDS)
        self.backend.setCurrentText(s.vocoder_backend)
        self.schedule = QComboBox()
        self.schedule.addItems(VOCODER_SCHEDULES)
        self.schedule.setCurrentText(s.vocoder_schedule)
        self.schedule.setToolTip("fast: audio starts after 8 speech units; smooth: after 16, seams closest to a "
                                 "whole-utterance decode")
        self.asr = _optional_line(s.asr_checkpoint)
        self.ser = _optional_line(s.ser_checkpoint)
        self.text_emotion = _optional_line(s.text_emotion_checkpoint)
        self.error = QLabel("", objectName="errorLabel")
        self.error.setWordWrap(True)
        self._layout()

    def _device_box(self, devices: list[str], current: str | None) -> QComboBox:
        box = QComboBox()
        box.setEditable(True)
        box.addItem("")
        box.addItems(devices)
        box.setCurrentText(current or "")
        box.lineEdit().setPlaceholderText("system default")
        return box

    def _layout(self) -> None:
        outer = QVBoxLayout(self)
        form = QFormLayout()
        rows = (
            ("Input device", self.input_device),
            ("Output device", self.output_device),
            ("Speech start threshold", self.start_threshold),
            ("Speech stop threshold", self.stop_threshold),
            ("End-of-turn silence (ms)", self.end_silence),
            ("Start reply early after (ms)", self.speculate),
            ("Semantic end of turn", self.semantic),
            ("  commit when P(finished) ≥", self.eot_commit),
            ("  wait longest when P(finished) ≤", self.eot_hold),
            ("  longest pause inside a turn (ms)", self.eot_max),
            ("Barge-in", self.barge_in),
            ("System prompt", self.prompt),
            ("Temperature", self.temperature),
            ("Top-p", self.top_p),
            ("Max reply tokens", self.max_tokens),
            ("Compute device (next load)", self.compute),
            ("LM weights (next load)", self.weights),
            ("Vocoder backend (next load)", self.backend),
            ("Vocoder start (next load)", self.schedule),
            ("Transcript listener", self.asr),
            ("User emotion listener", self.ser),
            ("Reply emotion listener", self.text_emotion),
        )
        for label, widget in rows:
            form.addRow(label, widget)
        outer.addLayout(form)
        outer.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        outer.addWidget(buttons)

    def values(self) -> dict:
        return {
            "input_device": self.input_device.currentText().strip() or None,
            "output_device": self.output_device.currentText().strip() or None,
            "vad_start_threshold": self.start_threshold.value(),
            "vad_stop_threshold": self.stop_threshold.value(),
            "end_silence_ms": self.end_silence.value(),
            "speculate_after_ms": self.speculate.value() or None,
            "semantic_end_of_turn": self.semantic.isChecked(),
            "eot_commit_prob": self.eot_commit.value(),
            "eot_hold_prob": self.eot_hold.value(),
            "eot_max_silence_ms": self.eot_max.value(),
            "barge_in": self.barge_in.isChecked(),
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
