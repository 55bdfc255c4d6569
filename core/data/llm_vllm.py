"""vLLM backend for the dialogue writer: one batched call per block of seeds, a sampling seed per record.

Imported only when vLLM is installed and a GPU is present; not exercised by the CPU test suite."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from core.data.config import LLMConfig
from core.data.llm import render_prompt
from core.data.schema import FIELDS
from core.data.seeds import Seed, SeedLists
from models.errors import UserError

log = logging.getLogger(__name__)


def json_schema(lists: SeedLists) -> dict[str, Any]:
    labels = {"user_emotion": lists.emotions, "user_style": lists.styles, "assistant_emotion": lists.reply_emotions}
    props = {k: ({"type": "string", "enum": list(labels[k])} if k in labels else {"type": "string"}) for k in FIELDS}
    return {"type": "object", "properties": props, "required": list(FIELDS), "additionalProperties": False}


class VllmDialogueLM:
    name = "vllm"

    def __init__(self, config: LLMConfig, lists: SeedLists) -> None:
        try:
            from vllm import LLM
        except ImportError:
            raise UserError("llm.backend vllm: vLLM is not installed (pip install vllm; needs a CUDA GPU)") from None

        self.config, self.lists = config, lists
        self.llm = LLM(model=config.path, dtype=config.dtype, trust_remote_code=False, seed=0)
        self.tokenizer = self.llm.get_tokenizer()
        self._structured = self._structured_params()

    def _structured_params(self) -> dict[str, Any]:
        """guided mode: vLLM's JSON-schema constrained decoding (API name differs across vLLM versions)."""
        if self.config.mode != "guided":
            return {}
        schema = json_schema(self.lists)
        try:
            from vllm.sampling_params import StructuredOutputsParams

            return {"structured_outputs": StructuredOutputsParams(json=schema)}
        except ImportError:
            pass
        try:
            from vllm.sampling_params import GuidedDecodingParams

            return {"guided_decoding": GuidedDecodingParams(json=schema)}
        except ImportError:
            log.warning("this vLLM has no JSON-schema decoding; guided mode samples free JSON")
            return {}

    def generate(self, seeds: Sequence[Seed]) -> list[str]:
        from vllm import SamplingParams

        cfg = self.config
        prompts = [render_prompt(self.tokenizer, s, self.lists) for s in seeds]
        params = [
            SamplingParams(
                temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k or -1,
                repetition_penalty=cfg.repetition_penalty, max_tokens=cfg.max_new_tokens,
                seed=s.rng_seed % (2**31), **self._structured,
            )
            for s in seeds
        ]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [o.outputs[0].text for o in outputs]
