"""Parity with the public OpenS2S reference implementation.

The vectors in tests/reference/reference_*.npz are numbers only. They were produced by running the public reference code
(CASIA-LM/OpenS2S @ 359565cd, `OmniSpeechModel.generate(units_gen=True)` with transformers 4.51.0, fp32, CPU,
greedy decoding for both LMs) outside this repository on the tiny checkpoints that `tests/conftest.py` makes.
They hold the prompt ids, the generated text ids, the raw TTS ids and the last-position logits of every LM step
(all LLM logits; a fixed subset of TTS-vocabulary columns).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from core.lm.conversation import Conversation
from core.lm.events import SpeechUnits, TextDelta, TurnEnd
from core.lm.runner import OpenS2SRunner
from core.lm.sampling import SamplingConfig
from tests.helpers import synthetic_clip

DATA = Path(__file__).parents[1] / "reference"
LOGIT_TOL = 1e-4
CASES = {  # vector name -> tiny checkpoint variant
    "text_1x2": "1:2",
    "audio_1x2": "1:2",
    "long_audio_1x2": "1:2",  # 35 s: two 30 s encoder windows
    "text_3x1": "3:1",
    "audio_4x8": "4:8",  # single-file weights
}
USER_TEXT = "Hello! How are you today?"


def _fingerprint(ckpt: Path) -> float:
    total = 0.0
    for f in sorted(ckpt.glob("model*.safetensors")):
        with safe_open(str(f), "pt") as h:
            for k in h.keys():
                total += float(h.get_tensor(k).double().abs().sum())
    return total


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_reference(name, tiny_checkpoint_factory):
    ref = np.load(DATA / f"reference_{name}.npz")
    ckpt = tiny_checkpoint_factory(CASES[name])
    # guards the factory: the vectors belong to exactly these weights
    assert _fingerprint(ckpt) == pytest.approx(float(ref["weights_fingerprint"]), rel=1e-12)
    conv = Conversation()
    if str(ref["mode"]) == "audio":
        conv.add_user_audio(synthetic_clip(float(ref["duration_s"])))
    else:
        conv.add_user_text(USER_TEXT)
    logits = {"llm": [], "tts": []}
    runner = OpenS2SRunner.load(ckpt, device="cpu")
    stream = runner.reply(conv, SamplingConfig(greedy=True, max_text_tokens=int(ref["max_text_tokens"]),
                                               max_units=int(ref["max_units"])),
                          logits_sink=lambda lm, x: logits[lm].append(x.numpy()))
    text_ids, tts_ids = [], []
    for ev in stream:
        if isinstance(ev, TextDelta):
            text_ids += ev.token_ids
        elif isinstance(ev, SpeechUnits):
            tts_ids += ev.token_ids
    assert isinstance(ev, TurnEnd)
    assert stream.plan.ids == ref["prompt_ids"].tolist()
    assert text_ids == ref["text_ids"].tolist()
    assert tts_ids == ref["tts_ids"].tolist()
    np.testing.assert_allclose(np.stack(logits["llm"]), ref["llm_logits"], atol=LOGIT_TOL, rtol=0)
    tts = np.stack(logits["tts"])[:, ref["tts_logit_index"]]
    np.testing.assert_allclose(tts, ref["tts_logits"], atol=LOGIT_TOL, rtol=0)
