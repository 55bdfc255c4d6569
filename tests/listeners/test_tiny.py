"""The tiny listener checkpoints load through the real from_pretrained path, and are seeded."""

from __future__ import annotations

import hashlib

import numpy as np

from models.listeners.tiny import EMOTION_LABELS, write_tiny_listeners


def _digest(path) -> str:
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def test_writes_are_seeded(tiny, tmp_path):
    again = write_tiny_listeners(tmp_path)
    assert {k: _digest(v) for k, v in again.items()} == {k: _digest(v) for k, v in tiny.items()}


def test_whisper_loads_and_generates(tiny):
    import torch
    from transformers import AutoTokenizer, WhisperFeatureExtractor, WhisperForConditionalGeneration

    model = WhisperForConditionalGeneration.from_pretrained(tiny["asr"], use_safetensors=True).eval()
    features = WhisperFeatureExtractor.from_pretrained(tiny["asr"])
    tokenizer = AutoTokenizer.from_pretrained(tiny["asr"])
    audio = np.zeros(16_000, dtype=np.float32)
    x = features(audio, sampling_rate=16_000, return_tensors="pt").input_features  # [1, 80, 3000]
    assert x.shape == (1, 80, 3000)
    with torch.inference_mode():
        ids = model.generate(x, max_new_tokens=4)
    assert tokenizer.batch_decode(ids, skip_special_tokens=True)[0] != ""
    assert tokenizer.convert_tokens_to_ids("<|notimestamps|>") == len(tokenizer) - 1


def test_emotion_checkpoints_load_through_auto_classes(tiny):
    from transformers import (
        AutoFeatureExtractor,
        AutoModelForAudioClassification,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    ser = AutoModelForAudioClassification.from_pretrained(tiny["ser"], use_safetensors=True)
    assert type(ser).__name__ == "Wav2Vec2ForSequenceClassification"
    assert AutoFeatureExtractor.from_pretrained(tiny["ser"]).sampling_rate == 16_000
    text = AutoModelForSequenceClassification.from_pretrained(tiny["text_emotion"], use_safetensors=True)
    assert type(text).__name__ == "BertForSequenceClassification"
    enc = AutoTokenizer.from_pretrained(tiny["text_emotion"])("i am so happy")
    assert len(enc["input_ids"]) > 2
    for model in (ser, text):
        assert tuple(model.config.id2label[i] for i in range(len(EMOTION_LABELS))) == EMOTION_LABELS
