"""One assistant reply: model thread and vocoder thread joined by a units queue, feeding the jitter buffer.

    runner.reply(conv) --TextDelta/SpeechUnits--> [model thread] --units--> queue --> [vocoder thread]
        --22050 Hz chunks--> Resampler --device rate--> PlayoutBuffer --> output callback

The two loops run on the engine's long-lived workers (core.engine.worker; a job without them starts its own). A held
job (speculative turn start, core.engine.speculation) keeps its events and audio back until `commit()`.

`cancel()` is the per-reply stop token: it stops playback at once, cancels the runner stream (effective within
one decode step) and makes the vocoder thread drop what is left. Nothing here touches the conversation.

First-chunk priority (optional): until the vocoder has produced the first audio, the model thread starts no
decode step while units are queued or being vocoded, so the two do not compete for the CPU on the way to the
first sound; afterwards they run in parallel.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.audio.devices import Resampler
from core.engine.events import ReplyAudio, ReplyEnded, ReplyText, ReplyTiming, ReplyUnits
from core.lm.events import AudioChunk, SpeechUnits, StopReason, TextDelta, TurnEnd
from core.lm.heard_text import HeardTextTracker, units_heard
from core.audio.playout import PlayoutBuffer, PlayoutStats
from core.engine.speculation import OutputGate
from core.engine.worker import Task, Worker

log = logging.getLogger(__name__)

_END = object()  # sentinel closing the units queue
POLL_S = 0.05  # how often a waiting vocoder thread re-checks the stop token
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


class ReplyJob:
    def __init__(
        self,
        turn_id: int,
        runner: Any,
        conversation: Any,
        sampling: Any,
        decoder: Any,
        playout: PlayoutBuffer,
        out_rate_hz: int,
        emit: Callable[[object], None],
        first_chunk_priority: bool = False,
        held: bool = False,
        workers: tuple[Worker, Worker] | None = None,
    ) -> None:
        self.turn_id = turn_id
        self._priority = first_chunk_priority
        self._inflight = 0  # units items queued or being pushed (guarded by _inflight_cv)
        self._inflight_cv = threading.Condition()
        self._runner, self._conv, self._sampling, self._decoder = runner, conversation, sampling, decoder
        self._out_rate_hz = out_rate_hz
        self._out = OutputGate(playout, emit, held)  # held: a speculative reply (core.engine.speculation)
        self.decoder_rate_hz = int(decoder.sample_rate_hz)
        self.tracker = HeardTextTracker()
        self._lock = threading.Lock()  # guards tracker and _stream
        self._stop = threading.Event()  # the per-reply stop token (user cancel or vocoder failure)
        self._user_cancel = threading.Event()  # cancel() was called: barge-in, stop button, shutdown
        self._units_q: queue.Queue = queue.Queue()
        self._stream: Any = None
        self._turn_end: TurnEnd | None = None
        self._errors: dict[str, str] = {}
        self._generated = 0
        self._n_chunks = 0
        self._units_vocoded = 0
        self._flushed = False
        self._marks: dict[str, float] = {"dispatched_t": time.monotonic()}
        self._compute = {"model": 0.0, "vocoder": 0.0}
        # (model, vocoder) workers: the engine's long-lived ones, else two of our own that end with this job
        self._workers = workers
        self._tasks: list[Task] = []

    # -- control -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._out.begin(self.turn_id)
        own = self._workers is None
        model_w, vocoder_w = self._workers or (Worker(f"reply{self.turn_id}-model"),
                                               Worker(f"reply{self.turn_id}-vocoder"))
        self._tasks = [model_w.submit(self._model_main), vocoder_w.submit(self._vocoder_main)]
        if own:
            model_w.close()
            vocoder_w.close()

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
        self._release_vocoder_wait(0)
        self._out.stop()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.cancel()

    @property
    def cancelled(self) -> bool:
        return self._user_cancel.is_set()

    def finished(self) -> bool:
        """Both loops have returned. False before start(): the supervisor must not finalize a job in the moment
        between the engine setting it and starting it (it would append an empty reply before the model plans)."""
        return bool(self._tasks) and all(t.done() for t in self._tasks)

    def join(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        for t in self._tasks:
            t.wait(max(0.0, deadline - time.monotonic()))
        return self.finished()

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
        generated_s = out.generated_samples / self.decoder_rate_hz
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
            stream = (
                self._runner.reply(self._conv, self._sampling)
                if self._sampling is not None
                else self._runner.reply(self._conv)
            )
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

    def _consume(self, it: Any) -> None:
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
            vs = self._decoder.open_stream()
            resampler = Resampler(self.decoder_rate_hz, self._out_rate_hz)
            while not self._stop.is_set():
                try:
                    first = self._units_q.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                units, n_items, put_t, ended = self._drain(first)
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
            self._out.emit(ReplyAudio(self.turn_id, AudioChunk(samples, self.decoder_rate_hz, self._n_chunks, False)))
            self._n_chunks += 1
            self._write(resampler.process(samples))

    def _write(self, samples: np.ndarray) -> None:
        if samples.size and self._out.write(self.turn_id, samples):
            self._mark("first_written_t")
