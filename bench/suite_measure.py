"""The measurements behind `bench/suite.py`: one reply through ours and through the reference baseline, with the
vocoder fed as units arrive, and the prefill time of every turn of a multi-turn conversation.

ours     = `OpenS2SRunner` (single cached step per token, prefix KV reuse) + `ChunkSchedule()` (16, 12, 24, 48...)
baseline = `generate_per_span` (a `generate()` call per interleave span, bench/reference_baseline.py) on a runner
           with `reuse_prefix=False` (whole history re-encoded every turn) + `ChunkSchedule.reference()` (fixed
           24-unit blocks, unbounded whole-history mel prompt).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import torch

from bench.reference_baseline import BaselineResult, generate_per_span
from core.lm.conversation import Conversation
from core.lm.events import SpeechUnits, TextDelta
from core.lm.runner import OpenS2SRunner
from core.lm.sampling import SamplingConfig
from core.voice.chunk_schedule import ChunkSchedule
from models.glm_constants import SAMPLE_RATE_HZ
from models.special_tokens import N_SPEECH_UNITS

log = logging.getLogger(__name__)

VOCODER_SEED = 0
ASSISTANT_REPLY = "Sure, tell me more about that."  # appended after every turn of the multi-turn conversation
USER_TEXT = "And what do you think about it?"


@dataclass
class ReplyFigures:
    """One reply, decoded to the end, with the vocoder fed as units arrived."""

    text_ids: list[int] = field(default_factory=list)
    tts_ids: list[int] = field(default_factory=list)
    first_audio_s: float = math.nan  # reply() called -> first audio chunk out of the vocoder
    text_steps_before_audio: int = 0  # LLM decode steps before the first audio chunk
    unit_steps_before_audio: int = 0  # TTS decode steps before the first audio chunk
    first_chunk_units: int = 0
    llm_s: float = 0.0  # time inside LLM forward steps / generate() calls (prefill included)
    tts_s: float = 0.0
    llm_first_s: float = 0.0  # the first LLM call (ours: step 1 = prompt embedding + prefill; baseline: the
    llm_first_tokens: int = 0  # first generate(), prefill + first span); decode rates leave it out
    tts_first_s: float = 0.0
    tts_first_tokens: int = 0
    vocoder_s: float = 0.0  # time inside push()/flush()
    audio_s: float = 0.0  # seconds of audio produced

    @property
    def llm_tokens_per_s(self) -> float:
        """Decode rate: tokens after the first call / time after it (prefill excluded)."""
        return _rate(len(self.text_ids) - self.llm_first_tokens, self.llm_s - self.llm_first_s)

    @property
    def tts_tokens_per_s(self) -> float:
        return _rate(len(self.tts_ids) - self.tts_first_tokens, self.tts_s - self.tts_first_s)

    @property
    def vocoder_rtf(self) -> float:
        return self.vocoder_s / self.audio_s if self.audio_s > 0 else math.nan


def _rate(n: int, seconds: float) -> float:
    return n / seconds if n > 0 and seconds > 0 else math.nan


def expected_steps_before_audio(first_chunk_units: int, text_span: int, speech_span: int) -> tuple[int, int]:
    """(text steps, unit steps) the schedules imply when no EOS comes first: every speech span of `speech_span`
    units needs `text_span` text tokens before it, so N units need ceil(N / ss) * ts text steps and N unit steps."""
    return math.ceil(first_chunk_units / speech_span) * text_span, first_chunk_units


class _VocoderFeed:
    """Pushes units into a vocoder stream, timing it and noting when the first audio comes out."""

    def __init__(self, decoder, schedule: ChunkSchedule, t0: float, fig: ReplyFigures) -> None:
        self.stream = decoder.open_stream(schedule, torch.Generator().manual_seed(VOCODER_SEED))
        self.t0, self.fig = t0, fig

    def push(self, units: list[int], n_text: int, n_tts: int) -> None:
        self._timed(lambda: self.stream.push(units), n_text, n_tts)

    def flush(self, n_text: int, n_tts: int) -> None:
        self._timed(self.stream.flush, n_text, n_tts)
        if self.stream.records:
            self.fig.first_chunk_units = self.stream.records[0].n_units

    def _timed(self, call, n_text: int, n_tts: int) -> None:
        t = time.perf_counter()
        chunks = call()
        now = time.perf_counter()
        self.fig.vocoder_s += now - t
        samples = sum(c.size for c in chunks)
        self.fig.audio_s += samples / SAMPLE_RATE_HZ
        if samples and math.isnan(self.fig.first_audio_s):
            self.fig.first_audio_s = now - self.t0
            self.fig.text_steps_before_audio, self.fig.unit_steps_before_audio = n_text, n_tts


def greedy(max_text: int, max_units: int) -> SamplingConfig:
    return SamplingConfig(greedy=True, max_text_tokens=max_text, max_units=max_units)


def ours_reply(runner: OpenS2SRunner, decoder, conv: Conversation, max_text: int, max_units: int) -> ReplyFigures:
    """Our runner's stream with our chunk schedule, in one thread (pure compute, no engine)."""
    fig, last = ReplyFigures(), [0.0]

    def sink(lm: str, _logits) -> None:  # called right after each forward step
        now, name = time.perf_counter(), "llm" if lm == "llm" else "tts"
        setattr(fig, f"{name}_s", getattr(fig, f"{name}_s") + now - last[0])
        if not getattr(fig, f"{name}_first_tokens"):
            setattr(fig, f"{name}_first_s", now - last[0])
            setattr(fig, f"{name}_first_tokens", 1)
        last[0] = now

    t0 = time.perf_counter()
    stream = runner.reply(conv, greedy(max_text, max_units), logits_sink=sink)
    feed = _VocoderFeed(decoder, ChunkSchedule(), t0, fig)
    last[0] = time.perf_counter()
    for ev in stream:
        if isinstance(ev, TextDelta):
            fig.text_ids += ev.token_ids
        elif isinstance(ev, SpeechUnits):
            fig.tts_ids += ev.token_ids
            if ev.units:
                feed.push(list(ev.units), len(fig.text_ids), len(fig.tts_ids))
        last[0] = time.perf_counter()
    feed.flush(len(fig.text_ids), len(fig.tts_ids))
    return fig


def baseline_reply(runner: OpenS2SRunner, decoder, conv: Conversation, max_text: int, max_units: int
                   ) -> ReplyFigures:
    """The reference worker's algorithm: whole prompt embedded, generate() per span, 24-unit vocoder blocks."""
    fig = ReplyFigures()
    t0 = time.perf_counter()
    stream = runner.reply(conv, greedy(max_text, max_units))
    prompt = stream.prompt_embeds()  # whole history, audio re-encoded
    feed = _VocoderFeed(decoder, ChunkSchedule.reference(), t0, fig)

    def on_units(res: BaselineResult, new_ids: list[int]) -> None:
        units = [i - runner.unit_offset for i in new_ids
                 if 0 <= i - runner.unit_offset < N_SPEECH_UNITS and i not in runner.tts_eos]
        if units:
            feed.push(units, len(res.text_ids), len(res.tts_ids))

    res = generate_per_span(runner, prompt, max_text, max_units, on_units=on_units)
    feed.flush(len(res.text_ids), len(res.tts_ids))
    fig.text_ids, fig.tts_ids, fig.llm_s, fig.tts_s = res.text_ids, res.tts_ids, res.llm_s, res.tts_s
    fig.llm_first_s, fig.llm_first_tokens = res.llm_first_s, res.llm_first_tokens
    fig.tts_first_s, fig.tts_first_tokens = res.tts_first_s, res.tts_first_tokens
    return fig


def prefill_s(runner: OpenS2SRunner, conv: Conversation, max_text: int, max_units: int) -> tuple[float, dict]:
    """reply() called -> the first LLM forward done (prompt embedding, audio encoding and prefill), then the reply
    is decoded to its end so the prompt cache is checked in as in the app. Returns (seconds, plan figures)."""
    first = [math.nan]
    t0 = time.perf_counter()

    def sink(lm: str, _logits) -> None:
        if lm == "llm" and math.isnan(first[0]):
            first[0] = time.perf_counter() - t0

    stream = runner.reply(conv, greedy(max_text, max_units), logits_sink=sink)
    for _ in stream:
        pass
    return first[0], {"n_positions": stream.plan.n_positions, "reused_positions": stream.reused_positions}


def multi_turn(ours: OpenS2SRunner, base: OpenS2SRunner, clip, turns: int, max_text: int, max_units: int
               ) -> list[dict]:
    """Prefill per turn of one conversation (odd turns audio, even turns text; a fixed assistant reply after
    each), ours (prefix reuse) and baseline (re-encode everything), alternating which goes first."""
    conv, rows = Conversation(), []
    for k in range(1, turns + 1):
        if k % 2:
            conv.add_user_audio(clip)
        else:
            conv.add_user_text(USER_TEXT)
        order = [("ours", ours), ("baseline", base)]
        row = {"turn": k, "kind": "audio" if k % 2 else "text"}
        for name, runner in order if k % 2 else order[::-1]:
            row[f"{name}_prefill_s"], plan = prefill_s(runner, conv, max_text, max_units)
            row[f"{name}_reused_positions"] = plan["reused_positions"]
            row["n_positions"] = plan["n_positions"]
        rows.append(row)
        conv.add_assistant(ASSISTANT_REPLY)
    return rows
