"""OpenS2S special tokens, prompt strings and sentinels: named once, used everywhere."""

from __future__ import annotations

from models.glm_constants import UNIT_VOCAB_SIZE

AUDIO_START = "<|im_audio_start|>"
AUDIO_END = "<|im_audio_end|>"
AUDIO_PLACEHOLDER = "<|im_audio|>"  # NOT a vocabulary token: the prompt string is split on it
TTS_START = "<|im_tts_start|>"
TTS_END = "<|im_tts_end|>"
# Added to the Qwen3 tokenizer as additional special tokens, in this order.
OPENS2S_ADDED_TOKENS = (AUDIO_START, AUDIO_END, TTS_START, TTS_END)

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
END_OF_TEXT = "<|endoftext|>"

AUDIO_TOKEN_INDEX = -200  # sentinel id where a clip's adapter embeddings are spliced into the prompt
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."

UNIT_TOKEN_FORMAT = "<|audio_{}|>"  # TTS vocabulary: <|audio_0|> ... <|audio_16383|>, contiguous ids
N_SPEECH_UNITS = UNIT_VOCAB_SIZE  # <|audio_0|>..: one token per GLM-4-Voice speech tokenizer code
