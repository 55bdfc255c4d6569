"""One assistant reply: model thread and vocoder thread joined by a units queue, feeding the jitter buffer.

    runner.reply(conv) --TextDelta/SpeechUnits--> [model thread] --units--> queue --> [vocoder thread]
        --22050 Hz chunks--> Resampler --device rate--> PlayoutBuffer --> output callback

The two loops run on the engine's long-lived workers (core.engine.worker; a job without them starts its own). A held
job (speculative turn start, core.engine.speculation) keeps its events and audio back until `commit()`.

`cancel()` is the per-reply stop token: it stops playback at once, cancels the runner stream (effective within
one decode step) and the voice stream (effective within one flow-matching step), and wakes the vocoder thread,
which drops what is left. Nothing here touches the conversation. `on_done` reports the end of both loops.

First-chunk priority (optional): until the vocoder has produced the first audio, the model thread starts no
decode step while units are queued or being vocoded, so the two do not compete for the CPU on the way to the
first sound; afterwards they run in parallel.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from core.audio.devices import Resampler
from core.audio.playout import PlayoutBuffer, PlayoutStats
from core.engine.events import EngineEvent, ReplyAudio, ReplyEnded, ReplyText, ReplyTiming, ReplyUnits
from core.engine.output_gate import OutputGate
from core.engine.worker import Worker, exclusive
from core.lm.events import AudioChunk, ReplyEvent, SpeechUnits, StopReason, TextDelta, TurnEnd
from core.lm.heard_text import HeardTextTracker, units_heard
from core.lm.sampling import SamplingConfig
from core.seams import History, ModelRunner, ReplyStream, VoiceStream, VoiceSynthesizer
from core.voice.schedule_plan import PlaybackPlan

log = logging.getLogger(__name__)

_END = object()  # sentinel closing the units queue: flush the voice stream
_WAKE = object()  # sentinel put by cancel(): the vocoder thread stops waiting for units
PRIORITY_WAIT_S = 1.0  # first-chunk priority never holds the model longer than this per step
PUSH_UNITS_MAX = 8  # queued units go to the vocoder in pieces this size: a cancel waits for one chunk at most


@dataclass
class ReplyOutcome:
    reason: StopReason
    text: str
    error: str | None
    error_source: str | None  # "model" | "vocoder" | None
    generated_samples: int  # vocoder-rate samples produced
    units_vocoded: int
    vocoder_flushed: bool


@dataclass(frozen=True)
class ReplyRequest:
    """Everything one reply needs. `held`: a speculative reply (core.engine.speculation) that keeps its events and
    audio back until `commit()`. `workers`: the engine's (model, vocoder) workers (None: two of the job's own).
    `on_done(job)`: called on a worker thread once both loops have returned."""

    turn_id: int
    runner: ModelRunner
    conversation: History
    vocoder: VoiceSynthesizer
    playout: PlayoutBuffer
    out_rate_hz: int
    emit: Callable[[EngineEvent], None]
    playback: PlaybackPlan = PlaybackPlan()  # the vocoder stream's chunk schedule and noise seed
    sampling: SamplingConfig | None = None
    first_chunk_priority: bool = False
    held: bool = False
    workers: tuple[Worker, Worker] | None = None
    on_done: Callable[[ReplyJob], None] | None = None


class ReplyJob:
    def __init__(self, request: ReplyRequest) -> None:
        r = self.request = request
        self.turn_id = r.turn_id
        self._priority = r.first_chunk_priority
        self._inflight = 0  # units items queued or being pushed (guarded by _inflight_cv)
        self._inflight_cv = threading.Condition()
        self._out = OutputGate(r.playout, r.emit, r.held)  # held: a speculative reply (core.engine.speculation)
        self.vocoder_rate_hz = int(r.vocoder.sample_rate_hz)
        self.tracker = HeardTextTracker()
        self._lock = threading.Lock()  # guards tracker, _stream, _voice and _running
        self._stop = threading.Event()  # the per-reply stop token (user cancel or vocoder failure)
        self._user_cancel = threading.Event()  # cancel() was called: barge-in, stop button, shutdown
        self._units_q: queue.Queue = queue.Queue()
        self._stream: ReplyStream | None = None
        self._voice: VoiceStream | None = None
        self._turn_end: TurnEnd | None = None
        self._errors: dict[str, str] = {}
        self._generated = 0
        self._n_chunks = 0
        self._units_vocoded = 0
        self._flushed = False
        self._marks: dict[str, float] = {"dispatched_t": time.monotonic()}
        self._compute = {"model": 0.0, "vocoder": 0.0}
        self._running = 0  # loops submitted and not yet returned
        self._done = threading.Event()  # both loops have returned

    # -- control -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Queue the model and vocoder loops on the workers. A worker runs one task at a time, and each loop
        holds its model (`exclusive`) while it runs, so this job computes only once an abandoned one is over."""
        self._out.begin(self.turn_id)
        own = self.request.workers is None
        model_w, vocoder_w = self.request.workers or (Worker(f"reply{self.turn_id}-model"),
                                                      Worker(f"reply{self.turn_id}-vocoder"))
        self._running = 2
        model_w.submit(lambda: self._loop(self._model_main, self.request.runner))
        vocoder_w.submit(lambda: self._loop(self._vocoder_main, self.request.vocoder))
        if own:
            model_w.close()
            vocoder_w.close()

    def _loop(self, body: Callable[[], None], model: object) -> None:
        try:
            with exclusive(model):
                body()
        finally:
            with self._lock:
                self._running -= 1
                last = self._running == 0
            if last:
                self._done.set()
                if self.request.on_done is not None:
                    self.request.on_done(self)

    def commit(self) -> None:
        """Adopt a speculative (held) reply: the turn has ended now. Its timing counts from here."""
        now = time.monotonic()
        self._marks["speculated_t"], self._marks["dispatched_t"] = self._marks["dispatched_t"], now
        if self._out.release():
            self._mark("first_written_t", now)

    def cancel(self) -> None:
        """Stop token: silence playback now, cancel generation and vocoding. Idempotent, thread-safe."""
        self._user_cancel.set()
        self._stop.set()
        self._units_q.put((_WAKE, time.monotonic()))
        self._release_vocoder_wait(0)
        self._out.stop()
        with self._lock:
            stream, voice = self._stream, self._voice
        if stream is not None:
            stream.cancel()
        if voice is not None:
            voice.cancel()

    @property
    def cancelled(self) -> bool:
        return self._user_cancel.is_set()

    def finished(self) -> bool:
        return self._done.is_set()

    def join(self, timeout_s: float) -> bool:
        """True once both loops have returned (within `timeout_s`)."""
        return self._done.wait(timeout_s)

    # -- results -------------------------------------------------------------------------------------------
    def outcome(self) -> ReplyOutcome:
        end = self._turn_end
        source = "model" if "model" in self._errors else "vocoder" if "vocoder" in self._errors else None
        if source is not None:
            reason = StopReason.ERROR
        elif self._user_cancel.is_set():
            reason = StopReason.CANCELLED
        else:
            reason = end.reason if end is not None else StopReason.ERROR
        error = self._errors.get(source) if source else (end.error if end is not None else None)
        return ReplyOutcome(
            reason, self.tracker.text, error, source, self._generated, self._units_vocoded, self._flushed
        )

    def timing(self, first_play_t: float | None) -> ReplyTiming:
        m = self._marks
        return ReplyTiming(
            dispatched_t=m["dispatched_t"],
            first_text_t=m.get("first_text_t"),
            first_units_t=m.get("first_units_t"),
            first_needed_units_t=m.get("first_needed_units_t"),
            first_push_t=m.get("first_push_t"),
            first_audio_t=m.get("first_audio_t"),
            first_written_t=m.get("first_written_t"),
            first_play_t=first_play_t,
            speculated_t=m.get("speculated_t"),
            model_to_first_units_s=m.get("model_first_units_s", 0.0),
            model_to_first_audio_s=m.get("model_first_audio_s", 0.0),
            vocoder_to_first_audio_s=m.get("vocoder_first_audio_s", 0.0),
        )

    def summarize(self, st: PlayoutStats, out_rate_hz: int, latency_s: float) -> tuple[ReplyEnded, ReplyOutcome]:
        """The ReplyEnded report once the job is over: how much played, hence which text was heard."""
        out = self.outcome()
        interrupted = self.cancelled
        played_s = st.played / out_rate_hz if st.reply_id == self.turn_id else 0.0
        if interrupted:  # audio handed to the device but still in its buffer was never heard
            played_s = max(0.0, played_s - latency_s)
        generated_s = out.generated_samples / self.vocoder_rate_hz
        if not interrupted and out.reason not in (StopReason.ERROR, StopReason.CANCELLED):
            self.tracker.finish()
        heard = self.tracker.heard_text(units_heard(played_s, generated_s, out.units_vocoded, out.vocoder_flushed))
        first_play_t = st.first_play_t if st.reply_id == self.turn_id else None
        ended = ReplyEnded(
            self.turn_id,
            out.reason,
            out.text,
            heard,
            interrupted,
            played_s,
            generated_s,
            st.underruns,
            out.error,
            self.timing(first_play_t),
        )
        return ended, out

    def _mark(self, name: str, value: float | None = None) -> None:
        self._marks.setdefault(name, time.monotonic() if value is None else value)

    # -- model thread --------------------------------------------------------------------------------------
    def _model_main(self) -> None:
        try:
            if self._stop.is_set():
                return  # cancelled before it started (it waited for an abandoned job)
            stream = self.request.runner.reply(self.request.conversation, self.request.sampling)
            with self._lock:
                self._stream = stream
            if self._stop.is_set():
                stream.cancel()
            self._consume(iter(stream))
        except Exception as err:  # the model failing mid-reply must not kill the engine
            log.warning("reply %d: model failed", self.turn_id, exc_info=True)
            self._errors["model"] = f"{type(err).__name__}: {err}"
        finally:
            self._units_q.put((_END, time.monotonic()))

    def _wait_vocoder(self) -> None:
        """First-chunk priority: no new decode step until the vocoder has pushed every queued unit."""
        with self._inflight_cv:
            self._inflight_cv.wait_for(
                lambda: self._inflight == 0 or self._stop.is_set() or "first_audio_t" in self._marks,
                PRIORITY_WAIT_S,
            )

    def _release_vocoder_wait(self, n_items: int) -> None:
        with self._inflight_cv:
            self._inflight -= n_items
            self._inflight_cv.notify_all()

    def _consume(self, it: Iterator[ReplyEvent]) -> None:
        while True:
            if self._priority and "first_audio_t" not in self._marks:
                self._wait_vocoder()
            t0 = time.perf_counter()
            try:
                ev = next(it)
            except StopIteration:
                return
            finally:
                self._compute["model"] += time.perf_counter() - t0
            if isinstance(ev, TextDelta):
                self._mark("first_text_t")
                with self._lock:
                    self.tracker.add_text(ev.text)
                self._out.emit(ReplyText(self.turn_id, ev))
            elif isinstance(ev, SpeechUnits):
                self._mark("first_units_t")
                self._mark("model_first_units_s", self._compute["model"])
                with self._lock:
                    self.tracker.add_units(len(ev.units))
                self._out.emit(ReplyUnits(self.turn_id, ev))
                if ev.units and not self._stop.is_set():  # a step may draw only the TTS EOS: no units
                    with self._inflight_cv:
                        self._inflight += 1
                    self._units_q.put((ev.units, time.monotonic()))
            elif isinstance(ev, TurnEnd):
                self._turn_end = ev
                if ev.reason is StopReason.ERROR:
                    self._errors["model"] = ev.error or "the runner reported an error"

    # -- vocoder thread ------------------------------------------------------------------------------------
    def _vocoder_main(self) -> None:
        try:
            plan = self.request.playback
            vs = self.request.vocoder.open_stream(plan.schedule, torch.Generator().manual_seed(plan.seed))
            with self._lock:
                self._voice = vs
            if self._stop.is_set():
                vs.cancel()
            resampler = Resampler(self.vocoder_rate_hz, self.request.out_rate_hz)
            while not self._stop.is_set():
                units, n_items, put_t, ended = self._drain(self._units_q.get())
                if self._stop.is_set():
                    break
                if units:
                    try:
                        for i in range(0, len(units), PUSH_UNITS_MAX):  # same audio as one push (it buffers)
                            if self._stop.is_set():
                                break
                            piece = units[i:i + PUSH_UNITS_MAX]
                            self._vocode(resampler, lambda u=piece: vs.push(u), len(piece), put_t)
                    finally:
                        self._release_vocoder_wait(n_items)
                if ended and not self._stop.is_set():
                    self._vocode(resampler, vs.flush, 0, put_t)
                    self._flushed = True
                    self._write(resampler.process(np.zeros(0, np.float32), last=True))
                    break
        except Exception as err:  # a vocoder failure ends this reply, not the engine
            log.warning("reply %d: vocoder failed", self.turn_id, exc_info=True)
            self._errors["vocoder"] = f"{type(err).__name__}: {err}"
            self._stop.set()
            self._release_vocoder_wait(0)
            with self._lock:
                stream = self._stream
            if stream is not None:
                stream.cancel()
        finally:
            self._out.end(self.turn_id)

    def _drain(self, first: tuple) -> tuple[list[int], int, float, bool]:
        """Everything queued now, as one push: (units, items, queue time of the newest item, END seen)."""
        units: list[int] = []
        item, put_t = first
        n_items = 0
        while True:
            if item is _END:
                return units, n_items, put_t, True
            if item is not _WAKE:
                units.extend(item)
                n_items += 1
            try:
                item, put_t = self._units_q.get_nowait()
            except queue.Empty:
                return units, n_items, put_t, False

    def _vocode(self, resampler: Resampler, call: Callable[[], list], n_units: int, units_t: float) -> None:
        push_t, t0 = time.monotonic(), time.perf_counter()
        chunks = call()
        self._compute["vocoder"] += time.perf_counter() - t0
        self._units_vocoded += n_units
        for chunk in chunks:
            if self._stop.is_set():
                return
            samples = np.asarray(chunk, dtype=np.float32).reshape(-1)
            if samples.size == 0:
                continue
            if "first_audio_t" not in self._marks:
                self._marks.update(
                    first_needed_units_t=units_t,
                    first_push_t=push_t,
                    first_audio_t=time.monotonic(),
                    vocoder_first_audio_s=self._compute["vocoder"],
                    model_first_audio_s=self._compute["model"],
                )
            self._generated += samples.size
            self._out.emit(ReplyAudio(self.turn_id, AudioChunk(samples, self.vocoder_rate_hz, self._n_chunks, False)))
            self._n_chunks += 1
            self._write(resampler.process(samples))

    def _write(self, samples: np.ndarray) -> None:
        if samples.size and self._out.write(self.turn_id, samples):
            self._mark("first_written_t")
