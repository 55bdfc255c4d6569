"""User transcript: Whisper (transformers) on the listener worker; throttled partials, one final per turn."""

from __future__ import annotations

import copy
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from core.audio.clips import WINDOW_SAMPLES  # Whisper sees at most 30 s per window
from core.listeners import loading
from core.listeners.base import Emit, Listener
from core.listeners.config import ListenersConfig
from core.listeners.events import ASR, UserTranscript
from models.rates import SPEECH_RATE_HZ as SAMPLE_RATE_HZ

log = logging.getLogger(__name__)

_PARTIAL_KEY = "partial"
# transformers' WhisperForConditionalGeneration.generate() itself passes suppress_tokens / begin_suppress_tokens
# beside the generation_config to GenerationMixin.generate(), which then warns once per process that this is
# deprecated: every session printed it, and no call of ours can avoid it. Only that exact notice is dropped.
_WHISPER_OWN_KWARGS_NOTICE = re.compile(
    r"Passing `generation_config` together with generation-related arguments=\(\{"
    r"'(begin_)?suppress_tokens'(, '(begin_)?suppress_tokens')?\}\) is deprecated")
GENERATION_LOGGER = "transformers.generation.utils"


class _DropWhisperOwnKwargsNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.WARNING and _WHISPER_OWN_KWARGS_NOTICE.match(record.getMessage()))


def drop_whisper_own_kwargs_notice() -> None:
    """Install the filter above on transformers' generation logger (idempotent)."""
    logger = logging.getLogger(GENERATION_LOGGER)
    if not any(isinstance(f, _DropWhisperOwnKwargsNotice) for f in logger.filters):
        logger.addFilter(_DropWhisperOwnKwargsNotice())


class AsrListener(Listener):
    """Transcribes the growing user buffer (partials) and whole turns (finals)."""

    name = ASR

    def __init__(
        self, checkpoint: str, config: ListenersConfig, emit: Emit, load_lock: threading.Lock | None = None
    ) -> None:
        super().__init__(checkpoint, config, emit, load_lock)
        self._model: Any = None
        self._features: Any = None
        self._tokenizer: Any = None
        self._gen_config: Any = None
        self._chunks: list[np.ndarray] = []  # the open turn's audio so far, [n_i] float32 each
        self._n_buffered = 0
        self._partial_turn_id: int | None = None
        self._partial_pending = False
        self._last_partial_start_s = -1e9
        self._epoch = 0  # bumped when the open buffer is closed or reset; stale partials are not emitted

    # -- caller side (any thread; only enqueues) -------------------------------------------------------

    def add_partial_audio(self, samples: np.ndarray, turn_id: int | None) -> None:
        cfg = self.config
        with self._lock:
            if self._chunks and turn_id != self._partial_turn_id:
                self._close_buffer_locked()  # a new turn began without on_user_turn for the old one
            self._chunks.append(samples)
            self._n_buffered += samples.size
            self._partial_turn_id = turn_id
            min_samples = cfg.partial_min_audio_ms * SAMPLE_RATE_HZ // 1000
            if self._partial_pending or self._n_buffered < min_samples:
                return  # a pending partial reads the newest buffer when it runs
            self._partial_pending = True
            next_s = self._last_partial_start_s + cfg.partial_interval_ms / 1000
            delay_s = max(next_s - time.monotonic(), 0.0)
        self._submit(self._run_partial, key=_PARTIAL_KEY, delay_s=delay_s)

    def reset_partial(self) -> None:
        with self._lock:
            self._close_buffer_locked()
        self._drop(_PARTIAL_KEY)

    def finish_turn(self, turn_id: int | None, samples: np.ndarray) -> None:
        with self._lock:
            self._close_buffer_locked()
        self._drop(_PARTIAL_KEY)
        self._submit(lambda: self._run_final(turn_id, samples))

    def _close_buffer_locked(self) -> None:
        self._chunks = []
        self._n_buffered = 0
        self._partial_pending = False
        self._epoch += 1

    # -- worker side ---------------------------------------------------------------------------------------

    def _run_partial(self) -> None:
        with self._lock:
            self._partial_pending = False
            self._last_partial_start_s = time.monotonic()
            chunks, turn_id, epoch = tuple(self._chunks), self._partial_turn_id, self._epoch
        if not chunks:
            return
        text = self.transcribe(np.concatenate(chunks), stop_if=lambda: self._epoch != epoch)
        with self._lock:
            stale = epoch != self._epoch
        if not stale:  # the turn ended meanwhile: its final follows on this worker, this partial is moot
            self._emit(UserTranscript(turn_id, text, is_final=False))

    def _run_final(self, turn_id: int | None, samples: np.ndarray) -> None:
        text = self.transcribe(samples) if samples.size else ""
        self._emit(UserTranscript(turn_id, text, is_final=True))

    def transcribe(self, samples: np.ndarray, stop_if: Callable[[], bool] | None = None) -> str:
        """[N] float32 16 kHz -> text; audio over 30 s is cut into windows decoded as one batch.

        `stop_if()` is polled after each decoded token; True ends decoding early (a partial made stale).
        """
        import torch

        windows = [samples[i : i + WINDOW_SAMPLES] for i in range(0, max(samples.size, 1), WINDOW_SAMPLES)]
        feats = self._features(windows, sampling_rate=SAMPLE_RATE_HZ, return_tensors="pt")
        input_features = feats.input_features.to(self.config.device)  # [B, n_mels, 3000]
        with torch.inference_mode():
            ids = self._model.generate(  # [B, n_tokens]
                input_features, generation_config=self._gen_config, **self._lang_kwargs(), **_stopper(stop_if)
            )
        texts = self._tokenizer.batch_decode(ids, skip_special_tokens=True)
        return " ".join(t.strip() for t in texts if t.strip())

    def _lang_kwargs(self) -> dict[str, str]:
        if self.config.asr_language and getattr(self._gen_config, "is_multilingual", False):
            return {"language": self.config.asr_language, "task": "transcribe"}
        return {}

    def _load(self) -> tuple[str, ...]:
        from transformers import AutoTokenizer, WhisperFeatureExtractor, WhisperForConditionalGeneration

        drop_whisper_own_kwargs_notice()
        source, kwargs = self._resolve()
        config = loading.load_config(source, kwargs)
        loading.require_model_type(config, ("whisper",), "Whisper")
        self._features = loading.load_component(WhisperFeatureExtractor, "feature extractor", source, kwargs)
        self._tokenizer = loading.load_component(AutoTokenizer, "tokenizer", source, kwargs)
        model = loading.load_model(WhisperForConditionalGeneration, source, kwargs, self.config.device)
        gen_config = copy.deepcopy(model.generation_config)
        # Whisper's generate() adds its start tokens to max_length itself; max_new_tokens would log a warning
        # ("both max_new_tokens and max_length set") on every call.
        gen_config.max_new_tokens = None
        gen_config.max_length = self.config.asr_max_new_tokens
        self._model, self._gen_config = model, gen_config
        return ()


def _stopper(stop_if: Callable[[], bool] | None) -> dict[str, Any]:
    """generate() kwargs adding a stopping criterion that ends decoding once `stop_if()` is True."""
    if stop_if is None:
        return {}
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _StopIf(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
            return torch.full(
                (input_ids.shape[0],), bool(stop_if()), dtype=torch.bool, device=input_ids.device
            )

    return {"stopping_criteria": StoppingCriteriaList([_StopIf()])}
