"""Prompt construction (as the reference worker does it) and the context-length policy for long histories.

chat template (system + turns, audio turns as `<|im_audio_start|><|im_audio|><|im_audio_end|>`, generation prompt
with thinking disabled) + `<|im_tts_start|>` -> split at `<|im_audio|>` -> encode each piece -> join the pieces
with the sentinel id -200, where each clip's adapter embeddings are spliced in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from core.audio.clips import WINDOW_SAMPLES
from core.lm.conversation import USER, Conversation, Turn
from models.errors import UserError
from models.opens2s import ENCODER_WINDOW_FRAMES, encoder_out_len
from models.special_tokens import AUDIO_END, AUDIO_PLACEHOLDER, AUDIO_START, AUDIO_TOKEN_INDEX, TTS_START

log = logging.getLogger(__name__)

HOP_SAMPLES = WINDOW_SAMPLES // ENCODER_WINDOW_FRAMES  # 160 samples per mel frame


def message_content(turn: Turn) -> str:
    if turn.has_audio:
        return f"{AUDIO_START}{AUDIO_PLACEHOLDER}{AUDIO_END}{turn.text}"
    return turn.text


def prompt_ids(tokenizer: PreTrainedTokenizerBase, system_prompt: str, turns: list[Turn]) -> list[int]:
    """Token ids of the prompt with AUDIO_TOKEN_INDEX where each audio turn's embeddings go (in order)."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages += [{"role": t.role, "content": message_content(t)} for t in turns]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False,
                                         enable_thinking=False)
    ids: list[int] = []
    for i, piece in enumerate((text + TTS_START).split(AUDIO_PLACEHOLDER)):
        if i:
            ids.append(AUDIO_TOKEN_INDEX)
        ids.extend(tokenizer.encode(piece))
    return ids


def _system_positions(tokenizer: PreTrainedTokenizerBase, system_prompt: str) -> int:
    """Positions the system prompt and the chat frame take before any turn."""
    return len(prompt_ids(tokenizer, system_prompt, [Turn(USER, "")])) if system_prompt else 0


def audio_embed_len(n_samples: int, kernel_sizes: tuple[int, ...]) -> int:
    """LLM embeddings a clip of `n_samples` (16 kHz) becomes: mel frames -> encoder windows -> adapter convs."""
    frames = -(-n_samples // HOP_SAMPLES)  # the feature mask keeps every 160th sample: ceil(n / 160)
    n_enc = 0
    while frames > 0:
        n_enc += encoder_out_len(min(frames, ENCODER_WINDOW_FRAMES))
        frames -= ENCODER_WINDOW_FRAMES
    for _ in kernel_sizes:
        n_enc = (n_enc - 1) // 2 + 1
    return n_enc


@dataclass(frozen=True)
class PromptPlan:
    """The turns that fit, their prompt ids (with sentinels) and the prompt length in positions."""

    turns: list[Turn]
    ids: list[int]
    n_positions: int
    n_dropped_turns: int
    audio_lens: tuple[int, ...]  # LLM embeddings of each audio turn, in prompt order

    def position_keys(self) -> list:
        """One key per prompt position: the token id, or (turn, i) inside an audio turn (turns compare by
        identity). Used to find the prefix shared with the previous turn's prompt."""
        audio_turns = iter([t for t in self.turns if t.has_audio])
        lens = iter(self.audio_lens)
        keys: list = []
        for token_id in self.ids:
            if token_id == AUDIO_TOKEN_INDEX:
                turn = next(audio_turns)
                keys.extend((turn, i) for i in range(next(lens)))
            else:
                keys.append(token_id)
        return keys


def plan_prompt(tokenizer: PreTrainedTokenizerBase, conversation: Conversation, kernel_sizes: tuple[int, ...],
                max_prompt_positions: int, context_positions: int) -> PromptPlan:
    """Drop the oldest turns (whole exchanges) until the prompt fits `max_prompt_positions` (the context minus the
    reply budget).

    The last user turn is always kept: alone it may use up to the whole context (the reply may then be cut short);
    beyond that a UserError says so.
    """
    turns = list(conversation.turns)
    if not turns or turns[-1].role != USER:
        raise UserError("nothing to reply to: the conversation must end with a user turn")
    dropped = 0
    while True:
        ids = prompt_ids(tokenizer, conversation.system_prompt, turns)
        if ids.count(AUDIO_TOKEN_INDEX) != sum(t.has_audio for t in turns):
            raise UserError(f"a message contains the reserved marker {AUDIO_PLACEHOLDER}; remove it")
        audio_lens = tuple(audio_embed_len(t.n_samples, kernel_sizes) for t in turns if t.has_audio)
        n_pos = len(ids) - ids.count(AUDIO_TOKEN_INDEX) + sum(audio_lens)
        alone = len(turns) == 1
        if n_pos <= max_prompt_positions or (alone and n_pos < context_positions):
            if dropped:
                log.info("history too long: dropped the %d oldest turn(s)", dropped)
            if n_pos > max_prompt_positions:
                log.warning("the prompt (%d positions) leaves less room than the reply budget", n_pos)
            return PromptPlan(turns=turns, ids=ids, n_positions=n_pos, n_dropped_turns=dropped, audio_lens=audio_lens)
        if alone:
            system_n = _system_positions(tokenizer, conversation.system_prompt)
            if system_n >= max_prompt_positions:  # no turn could ever fit: say what to change
                raise UserError(
                    f"the system prompt alone needs {system_n} positions, but the model's context is "
                    f"{context_positions} with {context_positions - max_prompt_positions} kept for the reply; "
                    "shorten the system prompt (Settings)"
                )
            raise UserError(
                f"this turn needs {n_pos} positions but the model's context is {context_positions}; "
                "say it in a shorter turn"
            )
        # drop the oldest turn, and any assistant turns that would now lead the history
        turns.pop(0)
        dropped += 1
        while turns and turns[0].role != USER:
            turns.pop(0)
            dropped += 1
