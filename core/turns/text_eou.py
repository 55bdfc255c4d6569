"""Text end-of-utterance signal: P(the user's turn is over) from the partial transcript.

`LlmEndOfUtterance` asks the loaded LLM (as LiveKit's turn detector asks its own small model): the chat template
renders the partial text as a finished user message; the probability of the token that closes the message,
right after the text, is the signal. It needs real weights: a random demo checkpoint gives noise.
`LexicalEndOfUtterance` is a weight-free English fallback: a text that ends on a word that cannot end a sentence
(an article, a preposition, a conjunction, an auxiliary: "the", "about", "and", "is") is unfinished, a sentence
mark ends it, anything else is undecided.
"""

from __future__ import annotations

import logging
import re
from typing import Protocol

log = logging.getLogger(__name__)

UNFINISHED_P = 0.05
FINISHED_P = 0.95
UNDECIDED_P = 0.6
_OPEN_ENDINGS = frozenset("""
a an the my your his her its our their this that these those some any every each no
to of in on at by for with from about into onto over under after before between through during without
and or but so because if when while than as whether although though since until unless
is am are was were be been being do does did have has had will would can could shall should may might must
i you we they he she it me us him them not very really just
""".split())
_WORD = re.compile(r"[a-z']+")


class TextEndOfUtterance(Protocol):
    def prob(self, text: str) -> float | None:  # None: no opinion (empty text)
        ...


class LexicalEndOfUtterance:
    def prob(self, text: str) -> float | None:
        stripped = text.strip()
        if not stripped:
            return None
        if stripped[-1] in ".?!":
            return FINISHED_P
        words = _WORD.findall(stripped.lower())
        if words and words[-1] in _OPEN_ENDINGS or stripped[-1] in ",;:-":
            return UNFINISHED_P
        return UNDECIDED_P


class LlmEndOfUtterance:
    """P(end of the user message | partial text) from a causal LM and its chat template."""

    def __init__(self, model, tokenizer) -> None:
        self._model, self._tok = model, tokenizer

    @classmethod
    def from_runner(cls, runner) -> LlmEndOfUtterance:
        return cls(runner.model.llm_model, runner.ckpt.tokenizer)

    def split(self, text: str) -> tuple[list[int], int]:
        """(ids of the rendered message up to the end of `text`, id of the token that closes the message)."""
        rendered = self._tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                 add_generation_prompt=False)
        end = rendered.rindex(text) + len(text)
        close = self._tok.encode(rendered[end:], add_special_tokens=False)
        if not close:
            raise ValueError("the chat template puts nothing after the user's message")
        return self._tok.encode(rendered[:end], add_special_tokens=False), close[0]

    def prob(self, text: str) -> float | None:
        import torch

        text = text.strip()
        if not text:
            return None
        ids, close_id = self.split(text)
        device = next(self._model.parameters()).device
        with torch.inference_mode():
            logits = self._model(input_ids=torch.tensor([ids], device=device)).logits  # [1, T, V]
        return float(torch.softmax(logits[0, -1].float(), dim=-1)[close_id])
