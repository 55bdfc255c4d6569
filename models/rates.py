"""The speech input rate, defined once (a leaf: models/, core/, app/ and bench/ import it).

Every speech input runs at 16 kHz mono: the Whisper encoder's features (OpenS2S and the ASR listener), the
emotion listener's wav2vec2, and silero-vad. The output rate is the decoder's (`models.glm_constants.SAMPLE_RATE_HZ`,
22050 Hz); a sound device's rate is its own (`core.audio.devices.DEVICE_RATE_HZ` when it reports none).
"""

from __future__ import annotations

SPEECH_RATE_HZ = 16000
