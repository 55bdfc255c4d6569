"""Smart Turn v3 (BSD-2, shipped in the `pipecat-ai` wheel): P(the user's turn is complete) from the audio.

Input: the last 8 s of the turn at 16 kHz, front-padded with zeros, as Whisper log-mel features
(`transformers.WhisperFeatureExtractor(chunk_length=8)`, normalised waveform) -> `input_features` [1, 80, 800];
output: a sigmoid probability [1, 1]. Run through this project's onnxruntime (onnxruntime-gpu's CPU provider,
one thread). pipecat itself is never imported: `pipecat/__init__.py` pulls in its own dependencies, which are
not installed (the wheel is installed without them, .ci/install); the model file is found through the package
metadata.
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.turns.config import VAD_RATE_HZ

log = logging.getLogger(__name__)

MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
WINDOW_S = 8  # the model sees the last 8 s
WINDOW_SAMPLES = WINDOW_S * VAD_RATE_HZ


class SmartTurnUnavailable(RuntimeError):
    """The model cannot be used; the message is the "off — reason" a user sees."""


def find_model_file(explicit: str | Path | None = None) -> Path:
    """The ONNX file: `explicit` if given, else the one inside the installed pipecat-ai wheel."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise SmartTurnUnavailable(f"Smart Turn model file {path} does not exist")
        return path
    try:
        files = importlib.metadata.files("pipecat-ai") or []
    except importlib.metadata.PackageNotFoundError:
        raise SmartTurnUnavailable("pipecat-ai is not installed (pip install --no-deps pipecat-ai)") from None
    for f in files:
        if f.name == MODEL_FILE:
            path = Path(f.locate())
            if path.is_file():
                return path
    raise SmartTurnUnavailable(f"{MODEL_FILE} is missing from the installed pipecat-ai package")


def last_window(samples_16k: np.ndarray) -> np.ndarray:
    """[N] -> [128000] float32: the last 8 s, zeros in front when shorter."""
    x = np.asarray(samples_16k, np.float32).reshape(-1)[-WINDOW_SAMPLES:]
    return np.pad(x, (WINDOW_SAMPLES - x.size, 0)) if x.size < WINDOW_SAMPLES else x


@dataclass(frozen=True)
class TurnScore:
    prob: float  # P(turn complete)
    compute_s: float  # features + model, wall clock


class SmartTurnModel:
    """`score(samples)` -> TurnScore. Thread-compatible (one caller at a time: the capture thread)."""

    def __init__(self, path: str | Path | None = None, threads: int = 1) -> None:
        self.path = find_model_file(path)
        try:
            import onnxruntime as ort
            from transformers import WhisperFeatureExtractor
        except ImportError as err:
            raise SmartTurnUnavailable(f"cannot import {err.name}") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for a bad file
            raise SmartTurnUnavailable(f"cannot load {self.path.name}: {err}") from None
        inputs = self._session.get_inputs()
        if [i.name for i in inputs] != ["input_features"] or list(inputs[0].shape[1:]) != [80, 800]:
            raise SmartTurnUnavailable(f"{self.path.name} is not a Smart Turn v3 model (inputs {inputs})")
        self._features = WhisperFeatureExtractor(chunk_length=WINDOW_S)

    def features(self, samples_16k: np.ndarray) -> np.ndarray:
        """[N] float32 16 kHz -> [1, 80, 800] float32 log-mel of the last 8 s."""
        out = self._features(last_window(samples_16k), sampling_rate=VAD_RATE_HZ, return_tensors="np",
                             padding="max_length", max_length=WINDOW_SAMPLES, truncation=True, do_normalize=True)
        return out.input_features.astype(np.float32)  # [1, 80, 800]

    def score(self, samples_16k: np.ndarray) -> TurnScore:
        t0 = time.perf_counter()
        (prob,) = self._session.run(None, {"input_features": self.features(samples_16k)})  # [1, 1]
        return TurnScore(float(np.asarray(prob).reshape(-1)[0]), time.perf_counter() - t0)


def load_smart_turn(path: str | Path | None = None, threads: int = 1) -> tuple[SmartTurnModel | None, str]:
    """(model, status line) or (None, "off — reason"): a missing model falls back to the VAD's silence."""
    try:
        model = SmartTurnModel(path, threads)
    except SmartTurnUnavailable as err:
        log.warning("semantic end of turn off: %s", err)
        return None, f"off — {err}; the turn ends after the VAD's silence"
    return model, f"on — Smart Turn v3 ({model.path.name})"
