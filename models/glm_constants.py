"""Fixed numbers of the GLM-4-Voice decoder (token2wav), kept in one place.

Everything here is a property of the released decoder or of the reference streaming procedure; sizes that vary
between checkpoints (widths, depths) come from `config.yaml` instead.
"""

from __future__ import annotations

SAMPLE_RATE_HZ = 22050  # output audio rate
MEL_HOP_SAMPLES = 256  # audio samples per mel frame
MEL_BINS = 80  # mel channels produced by the flow
UNIT_RATE_HZ = 12.5  # speech units per second (input_frame_rate)
UNIT_VOCAB_SIZE = 16384  # GLM-4-Voice codebook size; unit ids are 0..16383
SPEAKER_EMBED_DIM = 192  # x-vector size of the flow's speaker input (the reference passes zeros)

FLOW_STEPS = 10  # Euler steps of the conditional flow matching solver

# Reference streaming procedure (OpenS2S worker / GLM-4-Voice AudioDecoder).
REFERENCE_CHUNK_UNITS = 24  # OpenS2S worker: one flow call every 24 units
TOKEN_OVERLAP_UNITS = 5  # overlap expressed in units...
MEL_OVERLAP_FRAMES = int(
    TOKEN_OVERLAP_UNITS / UNIT_RATE_HZ * SAMPLE_RATE_HZ / MEL_HOP_SAMPLES
)  # ...= 34 frames
HIFT_CACHE_FRAMES = 1  # mel frames carried into the next HiFT call by the reference
PROMPT_EMBED_CHANNELS = MEL_BINS  # prompt mel features are [1, P, 80]

# File names of a released decoder directory.
CONFIG_FILE = "config.yaml"
FLOW_WEIGHTS_FILE = "flow.pt"
HIFT_WEIGHTS_FILE = "hift.pt"
