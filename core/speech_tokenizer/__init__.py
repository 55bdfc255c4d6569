"""Speech -> GLM-4-Voice units (the released WhisperVQEncoder tokenizer), as the reference extracts them.

    from core.speech_tokenizer import SpeechTokenizer
    tok = SpeechTokenizer.load(directory, device=None, dtype=None)   # CUDA bf16 when present, else CPU fp32
    units = tok.encode(samples, sample_rate_hz)                      # list[int], 12.5 per second of audio
    batch = tok.encode_batch([(samples, rate), ...])                 # list[list[int]]
    units = tok.encode_file("speech.wav")
"""

from core.speech_tokenizer.audio import prepare_audio, read_audio_file
from core.speech_tokenizer.tokenizer import EncodedUtterance, ExtractionConfig, SpeechTokenizer

__all__ = ["EncodedUtterance", "ExtractionConfig", "SpeechTokenizer", "prepare_audio", "read_audio_file"]
