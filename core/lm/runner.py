"""The streaming OpenS2S runner: one `ReplyStream` per turn, one decode loop, KV caches for both LMs.

The loop follows the checkpoint's `text_span:speech_span` schedule exactly as the reference `generate()` does
(spec section 4), but with a single cached step per token instead of a `generate()` call per span:

    TTS input:  spk_slot, h(0..ts-1), u, u (ss units), h(...), u, u, ..., final h span, units until TTS EOS
    h(i) = llm_ln(llm2tts(final-norm hidden state at the position that produced text token i))

Cancelling a turn = `stream.cancel()` (checked before every forward step) or simply dropping the stream.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import torch

from core.audio.clips import clip_features
from core.compute import resolve_device, resolve_dtype
from core.lm.conversation import Conversation
from core.lm.detokenize import IncrementalDetokenizer
from core.lm.events import ReplyEvent, SpeechUnits, StopReason, TextDelta, TurnEnd
from core.lm.prompt import PromptPlan, plan_prompt
from core.lm.prompt_cache import PromptCache
from core.lm.sampling import LMSampling, SamplingConfig, next_token
from core.lm.session import LMSession, LogitsSink
from models.checkpoint import OpenS2SCheckpoint, load_checkpoint
from models.errors import CheckpointError, ResourceError
from models.quantize import check_supported
from models.special_tokens import AUDIO_TOKEN_INDEX, N_SPEECH_UNITS, UNIT_TOKEN_FORMAT
from models.weights import WeightsOption

log = logging.getLogger(__name__)


class _Cancelled(Exception):
    pass


def unit_offset(tts_tokenizer) -> int:
    """Id of `<|audio_0|>`; checks that the unit tokens are contiguous, as unit = id - offset requires."""
    first = tts_tokenizer.convert_tokens_to_ids(UNIT_TOKEN_FORMAT.format(0))
    if first is None or first == tts_tokenizer.unk_token_id:
        raise CheckpointError("tts/ tokenizer has no <|audio_0|> token; this is not an OpenS2S TTS tokenizer")
    for n in (1, N_SPEECH_UNITS - 1):
        token_id = tts_tokenizer.convert_tokens_to_ids(UNIT_TOKEN_FORMAT.format(n))
        if token_id not in (None, tts_tokenizer.unk_token_id) and token_id != first + n:
            raise CheckpointError(f"tts/ tokenizer: <|audio_{n}|> is id {token_id}, not {first + n}; unit tokens "
                                  "must be contiguous")
    return first


def _eos_ids(value) -> frozenset[int]:
    if value is None:
        return frozenset()
    return frozenset([value] if isinstance(value, int) else value)


class OpenS2SRunner:
    """Holds a loaded checkpoint; `reply()` starts a per-turn stream."""

    def __init__(self, checkpoint: OpenS2SCheckpoint, device: torch.device, dtype: torch.dtype,
                 reuse_prefix: bool = True, weights: WeightsOption | None = None):
        self.ckpt = checkpoint
        self.weights = weights or WeightsOption()
        self.prompt_cache = PromptCache() if reuse_prefix else None
        self.device, self.dtype = device, dtype
        self.model = checkpoint.model
        self.text_span, self.speech_span = checkpoint.config.text_span, checkpoint.config.speech_span
        self.unit_offset = unit_offset(checkpoint.tts_tokenizer)
        self.llm_eos = _eos_ids(checkpoint.generation_config.eos_token_id) or _eos_ids(
            checkpoint.tokenizer.eos_token_id)
        tts_eos = _eos_ids(checkpoint.tts_generation_config.eos_token_id) or _eos_ids(
            checkpoint.tts_tokenizer.eos_token_id)
        if not self.llm_eos or not tts_eos:
            raise CheckpointError("neither generation_config.json nor the tokenizer (root or tts/) names an end "
                                  "token; the reply could never end")
        self.tts_eos = tts_eos

    @classmethod
    def load(cls, checkpoint_dir: str | Path, device: str | None = None, dtype: str | None = None,
             reuse_prefix: bool = True, weights: str | WeightsOption | None = None) -> OpenS2SRunner:
        """`weights`: "full" (default: the compute dtype), "int8" or "int4" (CUDA + bf16) LM blocks; an option that
        cannot run here raises a one-line UserError before anything is loaded."""
        dev = resolve_device(device)
        dt = resolve_dtype(dtype, dev)
        option = WeightsOption.parse(weights)
        check_supported(option, dev, dt)
        return cls(load_checkpoint(checkpoint_dir, dev, dt, option), dev, dt, reuse_prefix, option)

    def reply(self, conversation: Conversation, sampling: SamplingConfig | None = None,
              logits_sink: LogitsSink | None = None) -> ReplyStream:
        return ReplyStream(self, conversation, sampling or SamplingConfig(), logits_sink)


class ReplyStream:
    """One assistant turn. Iterate (in any one thread) to generate; `cancel()` from any thread."""

    def __init__(self, runner: OpenS2SRunner, conversation: Conversation, sampling: SamplingConfig,
                 logits_sink: LogitsSink | None):
        ck = runner.ckpt
        self._r = runner
        self._cancel = threading.Event()
        self._sink = logits_sink
        self.llm_sampling: LMSampling = sampling.resolve_llm(ck.generation_config)
        self.tts_sampling: LMSampling = sampling.resolve_tts(ck.tts_generation_config)
        self.max_text_tokens = sampling.text_budget(ck.generation_config)
        self.max_units = sampling.unit_budget(ck.tts_generation_config)
        self._warn_tts_context()
        context = ck.config.llm.max_position_embeddings
        # plan now (not lazily) so that a turn that cannot fit fails before the caller starts streaming
        self.plan: PromptPlan = plan_prompt(ck.tokenizer, conversation, ck.config.conv_kernel_sizes,
                                            context - self.max_text_tokens, context)
        self._gen = torch.Generator(device=runner.device)
        if sampling.seed is None:
            self._gen.seed()
        else:
            self._gen.manual_seed(sampling.seed)
        self._started = False
        self.reused_positions = 0  # prompt positions taken from the previous turn's KV cache

    def _warn_tts_context(self) -> None:
        """The TTS LM sees the speaker slot, every text position and every unit. Like the reference we do not cut
        the budget (rotary positions run on past the configured length), but say so."""
        need = 1 + self.max_text_tokens + self.max_units
        if need > self._r.ckpt.config.tts_lm.max_position_embeddings:
            log.warning("a full reply (%d TTS positions) may exceed the TTS LM's configured context of %d",
                        need, self._r.ckpt.config.tts_lm.max_position_embeddings)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def __iter__(self) -> Iterator[ReplyEvent]:
        if self._started:
            raise RuntimeError("a ReplyStream can be iterated once")
        self._started = True
        return self._run()

    # ---- the loop ---------------------------------------------------------------------------------------------
    def _run(self) -> Iterator[ReplyEvent]:
        state = _TurnState()
        try:
            yield from self._decode(state)
        except _Cancelled:
            state.reason = StopReason.CANCELLED
        except torch.OutOfMemoryError:
            raise ResourceError("out of GPU memory while generating: close other GPU programs, choose a smaller "
                                "checkpoint or run on the CPU (--device cpu)") from None
        tail = state.detok.flush() if state.detok else ""
        if tail:
            yield TextDelta(tail, ())
        text = state.detok.text if state.detok else ""
        yield TurnEnd(state.reason, text, state.n_text, state.n_units)

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise _Cancelled

    def _decode(self, st: _TurnState) -> Iterator[ReplyEvent]:
        r, model = self._r, self._r.model
        st.detok = IncrementalDetokenizer(r.ckpt.tokenizer)
        keys = self.plan.position_keys()
        cache, self.reused_positions = r.prompt_cache.checkout(keys) if r.prompt_cache else (None, 0)
        llm = LMSession("llm", model.llm_model, self._sink, cache, self.reused_positions)
        tts = LMSession("tts", model.tts_lm_model, self._sink)
        self._check_cancel()
        with torch.inference_mode():
            llm.feed(self.prompt_embeds(skip=self.reused_positions))  # [1, P - reused, H_llm]
            tts.feed(model.speaker_slot())  # [1, 1, H_tts]
        try:
            yield from self._interleave(llm, tts, st)
        except _Cancelled:
            self._keep_prompt_cache(keys, llm)
            raise
        self._keep_prompt_cache(keys, llm)

    def _keep_prompt_cache(self, keys: list, llm: LMSession) -> None:
        if self._r.prompt_cache is not None and llm.n_positions >= len(keys):
            self._r.prompt_cache.checkin(keys, llm.cache)

    def _interleave(self, llm: LMSession, tts: LMSession, st: _TurnState) -> Iterator[ReplyEvent]:
        r, model = self._r, self._r.model
        text_left, units_left = self.max_text_tokens, self.max_units
        while True:
            hiddens, tokens = [], []
            for _ in range(min(r.text_span, text_left)):
                self._check_cancel()
                hidden, logits = llm.step()
                token = next_token(logits, self.llm_sampling, self._gen, tokens)
                hiddens.append(hidden)
                tokens.append(token)
                llm.feed_token(token)
                st.n_text += 1
                yield TextDelta(st.detok.push([token]), (token,))
                if token in r.llm_eos:
                    break
            text_left -= len(tokens)
            text_done = tokens[-1] in r.llm_eos or text_left < 1
            with torch.inference_mode():
                tts.feed(model.project_to_tts(torch.stack(hiddens, dim=1)))  # [1, k, H_tts]
            budget = units_left if text_done else min(r.speech_span, units_left)
            if budget < 1:
                st.reason = StopReason.MAX_UNITS if not text_done else self._text_reason(tokens)
                return
            units_left -= yield from self._speech_span(tts, budget, st)
            if text_done:
                st.reason = self._text_reason(tokens)
                return

    def _text_reason(self, tokens: list[int]) -> StopReason:
        return StopReason.EOS if tokens[-1] in self._r.llm_eos else StopReason.MAX_TEXT_TOKENS

    def _speech_span(self, tts: LMSession, budget: int, st: _TurnState) -> Iterator[ReplyEvent]:
        """Up to `budget` TTS tokens (stopping after a TTS EOS); returns how many were drawn."""
        r, drawn = self._r, []
        for _ in range(budget):
            self._check_cancel()
            _, logits = tts.step()
            token = next_token(logits, self.tts_sampling, self._gen, drawn)
            drawn.append(token)
            tts.feed_token(token)
            unit = token - r.unit_offset
            valid = 0 <= unit < N_SPEECH_UNITS and token not in r.tts_eos
            st.n_units += valid
            yield SpeechUnits((unit,) if valid else (), token_ids=(token,))
            if token in r.tts_eos:
                break
        return len(drawn)

    @torch.inference_mode()
    def prompt_embeds(self, skip: int = 0) -> torch.Tensor:
        """Text embeddings with each audio turn's adapter outputs spliced in at its sentinel: [1, P - skip, H_llm].

        The first `skip` positions (already in a reused KV cache) are not computed: audio inside them is not
        encoded again."""
        embed = self._r.model.llm_model.get_input_embeddings()
        # turns, not samples: a spilled clip is read back only when its embeddings are computed
        clips = iter(zip([t for t in self.plan.turns if t.has_audio], self.plan.audio_lens, strict=True))
        pieces, run, pos = [], [], 0
        for token_id in self.plan.ids + [AUDIO_TOKEN_INDEX]:  # a trailing sentinel flushes the last text run
            if token_id != AUDIO_TOKEN_INDEX:
                run.append(token_id)
                continue
            if run and pos + len(run) > skip:
                pieces.append(embed(torch.tensor(run[max(0, skip - pos):], device=self._r.device)))
            pos += len(run)
            run = []
            turn, n_embeds = next(clips, (None, 0))
            if turn is not None and pos + n_embeds > skip:
                pieces.append(self._encode_clip(turn.audio, n_embeds)[max(0, skip - pos):])
            pos += n_embeds
        return torch.cat(pieces, dim=0)[None]

    def _encode_clip(self, clip, n_embeds: int) -> torch.Tensor:  # -> [n_embeds, H_llm]
        feats = clip_features(clip, self._r.ckpt.feature_extractor)
        x = torch.from_numpy(feats.features).to(self._r.device, self._r.dtype)
        out = self._r.model.encode_audio(x, feats.valid_frames)
        if out.shape[0] != n_embeds:
            raise RuntimeError(f"internal: clip gave {out.shape[0]} embeddings, planned {n_embeds}")
        self._check_cancel()
        return out


class _TurnState:
    def __init__(self) -> None:
        self.detok: IncrementalDetokenizer | None = None
        self.n_text = 0
        self.n_units = 0
        self.reason = StopReason.EOS
