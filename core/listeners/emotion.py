"""User speech emotion (audio classification) and assistant text emotion (sequence classification)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

from core.listeners import loading
from core.listeners.base import Emit, Listener
from core.listeners.config import ListenersConfig
from core.listeners.events import ASSISTANT_EMOTION, USER_EMOTION, TurnEmotion
from core.lm.events import EmotionLabel
from models.rates import SPEECH_RATE_HZ as SAMPLE_RATE_HZ

log = logging.getLogger(__name__)

_TEXT_KEY = "text"
_MIN_SER_SAMPLES = SAMPLE_RATE_HZ // 10  # wav2vec2-style encoders need some audio; shorter turns get padded


def top_label(logits: Any, labels: tuple[str, ...]) -> tuple[str, float]:
    """[1, n_labels] logits -> (label, softmax probability)."""
    import torch

    probs = torch.softmax(logits.float(), dim=-1)[0]  # [n_labels]
    idx = int(torch.argmax(probs))
    return labels[idx], float(probs[idx])


class SpeechEmotionListener(Listener):
    """One label per user turn from an audio-classification checkpoint (labels from its id2label)."""

    name = USER_EMOTION

    def __init__(
        self, checkpoint: str, config: ListenersConfig, emit: Emit, load_lock: threading.Lock | None = None
    ) -> None:
        super().__init__(checkpoint, config, emit, load_lock)
        self._model: Any = None
        self._features: Any = None
        self._labels: tuple[str, ...] = ()

    def finish_turn(self, turn_id: int | None, samples: np.ndarray) -> None:
        if samples.size:
            self._submit(lambda: self._run(turn_id, samples))

    def classify(self, samples: np.ndarray) -> tuple[str, float]:
        """[N] float32 16 kHz -> (label, confidence), over the last `ser_max_audio_ms` of the audio."""
        import torch

        max_samples = self.config.ser_max_audio_ms * SAMPLE_RATE_HZ // 1000
        clip = samples[-max_samples:]
        if clip.size < _MIN_SER_SAMPLES:
            clip = np.pad(clip, (0, _MIN_SER_SAMPLES - clip.size))
        inputs = self._features(clip, sampling_rate=SAMPLE_RATE_HZ, return_tensors="pt")
        inputs = {k: v.to(self.config.device) for k, v in inputs.items()}
        with torch.inference_mode():
            logits = self._model(**inputs).logits  # [1, n_labels]
        return top_label(logits, self._labels)

    def _run(self, turn_id: int | None, samples: np.ndarray) -> None:
        label, confidence = self.classify(samples)
        self._emit(TurnEmotion(turn_id, EmotionLabel("user", label, confidence), is_final=True))

    def _load(self) -> tuple[str, ...]:
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification
        from transformers.models.auto.modeling_auto import MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES

        source, kwargs = self._resolve()
        config = loading.load_config(source, kwargs)
        allowed = set(MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES)
        loading.require_model_type(config, allowed, "audio-classification")
        labels = loading.labels_from_config(config)
        self._features = loading.load_component(AutoFeatureExtractor, "feature extractor", source, kwargs)
        self._model = loading.load_model(AutoModelForAudioClassification, source, kwargs, self.config.device)
        self._labels = labels
        return labels


class TextEmotionListener(Listener):
    """Labels the assistant's reply text as it grows (at most once per interval) and once more at its end."""

    name = ASSISTANT_EMOTION

    def __init__(
        self, checkpoint: str, config: ListenersConfig, emit: Emit, load_lock: threading.Lock | None = None
    ) -> None:
        super().__init__(checkpoint, config, emit, load_lock)
        self._model: Any = None
        self._tokenizer: Any = None
        self._labels: tuple[str, ...] = ()
        self._turn_id: int | None = None
        self._text = ""
        self._finished_turn_id: int | None = None
        self._pending = False
        self._last_run_s = -1e9
        self._cache: tuple[int | None, str, tuple[str, float]] | None = None  # worker thread only

    def update_text(self, turn_id: int | None, text_so_far: str) -> None:
        with self._lock:
            if turn_id is not None and turn_id == self._finished_turn_id:
                return  # the reply already ended; its final label is out
            self._turn_id, self._text = turn_id, text_so_far
            if self._pending:
                return  # the pending update reads the newest text when it runs
            self._pending = True
            next_s = self._last_run_s + self.config.text_emotion_interval_ms / 1000
            delay_s = max(next_s - time.monotonic(), 0.0)
        self._submit(self._run_update, key=_TEXT_KEY, delay_s=delay_s)

    def finish_reply(self, turn_id: int | None) -> None:
        with self._lock:
            if turn_id != self._turn_id or not self._text.strip():
                return
            self._pending = False
            self._finished_turn_id = turn_id
            text = self._text
        self._drop(_TEXT_KEY)
        self._submit(lambda: self._run_final(turn_id, text))

    def classify(self, text: str) -> tuple[str, float]:
        """Text -> (label, confidence); the text is cut to `text_max_tokens` tokens."""
        import torch

        inputs = self._tokenizer(text, return_tensors="pt", truncation=True, max_length=self._max_tokens())
        inputs = {k: v.to(self.config.device) for k, v in inputs.items()}
        with torch.inference_mode():
            logits = self._model(**inputs).logits  # [1, n_labels]
        return top_label(logits, self._labels)

    def _max_tokens(self) -> int:
        limit = getattr(self._model.config, "max_position_embeddings", None) or self.config.text_max_tokens
        return min(self.config.text_max_tokens, int(limit))

    def _run_update(self) -> None:
        with self._lock:
            self._pending = False
            self._last_run_s = time.monotonic()
            turn_id, text = self._turn_id, self._text
        if text.strip():
            self._classify_and_emit(turn_id, text, is_final=False)

    def _run_final(self, turn_id: int | None, text: str) -> None:
        self._classify_and_emit(turn_id, text, is_final=True)

    def _classify_and_emit(self, turn_id: int | None, text: str, *, is_final: bool) -> None:
        if self._cache is not None and self._cache[:2] == (turn_id, text):
            if not is_final:
                return  # unchanged text: no new estimate
            label, confidence = self._cache[2]
        else:
            label, confidence = self.classify(text)
            self._cache = (turn_id, text, (label, confidence))
        self._emit(TurnEmotion(turn_id, EmotionLabel("assistant", label, confidence), is_final=is_final))

    def _load(self) -> tuple[str, ...]:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

        source, kwargs = self._resolve()
        config = loading.load_config(source, kwargs)
        allowed = set(MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES)
        loading.require_model_type(config, allowed, "text-classification")
        labels = loading.labels_from_config(config)
        self._tokenizer = loading.load_component(AutoTokenizer, "tokenizer", source, kwargs)
        auto_cls = AutoModelForSequenceClassification
        self._model = loading.load_model(auto_cls, source, kwargs, self.config.device)
        self._labels = labels
        return labels
