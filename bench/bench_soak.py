"""Soak benchmark: a long spoken session through the real engine, watching memory and threads.

100 spoken turns (default) with the tiny random OpenS2S checkpoint and tiny GLM-4-Voice decoder: espeak-ng speech
is played into a simulated microphone (a sounddevice-like backend paced faster than real time), real silero-vad
finds the turns, the reply plays out to a simulated speaker. Every 5th turn the next utterance barges in while the
reply is playing (barge-in mode); every 20th turn the settings change, which replaces the engine as the app does
(same conversation, turn ids carry on). Prints per turn: RSS and the Python heap (tracemalloc), and both net of
what the conversation itself legitimately holds (its audio and text); at the end, the growth per turn (least
squares over turns 11..N) and the threads still alive after stop().

    python bench/bench_soak.py [--turns 100] [--speed 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.window.null_audio import NullAudio, _NullStream  # noqa: E402
from bench.memory_probe import malloc_mb, malloc_trim, prompt_cache_mb, rss_parts, torch_tensor_mb  # noqa: E402
from core.engine.config import AudioConfig, EngineConfig  # noqa: E402
from core.engine.engine import Engine  # noqa: E402
from core.engine.events import BargeIn, EngineState, ReplyEnded, StateChanged  # noqa: E402
from core.turns.config import VadConfig  # noqa: E402

PHRASES = ("Hello there, how are you today?", "Tell me something about the weather.",
           "What should I cook for dinner tonight?", "I had a long day at work.", "Can you say that again?")
WAIT_S = 60.0


class _MicStream(_NullStream):
    """Input stream that plays the backend's queued samples (else a faint noise floor), paced by `speed`."""

    def __init__(self, backend: SoakAudio, **kw) -> None:
        super().__init__("input", **kw)
        self._backend = backend

    def _run(self) -> None:
        period_s = self.blocksize / self.samplerate / self._backend.speed
        next_t = time.monotonic()
        while not self._stop.is_set():
            block = self._backend.read_mic(self.blocksize).reshape(-1, 1)
            self._cb(block, self.blocksize, None, 0)
            next_t += period_s
            self._stop.wait(max(0.0, next_t - time.monotonic()))
        self.active = False


class _SpeakerStream(_NullStream):
    def __init__(self, backend: SoakAudio, **kw) -> None:
        super().__init__("output", **kw)
        self._backend = backend

    def _run(self) -> None:
        period_s = self.blocksize / self.samplerate / self._backend.speed
        next_t = time.monotonic()
        block = np.zeros((self.blocksize, self.channels), np.float32)
        while not self._stop.is_set():
            self._cb(block, self.blocksize, None, 0)
            next_t += period_s
            self._stop.wait(max(0.0, next_t - time.monotonic()))
        self.active = False


class SoakAudio(NullAudio):
    """One simulated device at 16 kHz; `say(samples)` queues speech for the microphone."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._mic: queue.Queue[np.ndarray] = queue.Queue()
        self._pending = np.zeros(0, np.float32)
        self._rng = np.random.default_rng(0)

    def query_devices(self, device=None, kind=None) -> dict:
        return {**super().query_devices(device, kind), "name": "soak", "default_samplerate": 16000.0}

    def say(self, samples: np.ndarray) -> None:
        self._mic.put(np.asarray(samples, np.float32))

    def read_mic(self, n: int) -> np.ndarray:
        while self._pending.size < n:
            try:
                self._pending = np.concatenate([self._pending, self._mic.get_nowait()])
            except queue.Empty:
                break
        take, self._pending = self._pending[:n], self._pending[n:]
        noise = (1e-3 * self._rng.standard_normal(n)).astype(np.float32)
        noise[: take.size] += take
        return noise

    def InputStream(self, **kw):  # noqa: N802 (sounddevice's name)
        return _MicStream(self, **kw)

    def OutputStream(self, **kw):  # noqa: N802 (sounddevice's name)
        return _SpeakerStream(self, **kw)


class Events:
    """Keeps only the few event kinds the loop waits on (audio chunks and levels would skew the heap figures)."""

    KEEP = (StateChanged, ReplyEnded, BargeIn)

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.items: list = []
        self.barge_ins = 0

    def __call__(self, ev) -> None:
        if not isinstance(ev, self.KEEP):
            return
        with self.cond:
            self.barge_ins += isinstance(ev, BargeIn)
            self.items.append(ev)
            self.cond.notify_all()

    def mark(self) -> int:
        """Drop what the loop has seen; the index new events start at."""
        with self.cond:
            self.items = self.items[-4:]
            return len(self.items)

    def wait(self, pred, start: int, timeout_s: float = WAIT_S):
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                for ev in self.items[start:]:
                    if pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("event not seen")
                self.cond.wait(left)


def espeak_16k(text: str, tmp: Path) -> np.ndarray:
    import soundfile as sf
    import soxr

    wav = tmp / "say.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    x, rate = sf.read(str(wav), dtype="float32")
    y = soxr.resample(x, rate, 16000).astype(np.float32)
    return np.concatenate([np.zeros(3200, np.float32), 0.8 * y / max(1e-6, np.abs(y).max())])


def engine_config(i: int) -> EngineConfig:
    end_ms = 500.0 if (i // 20) % 2 == 0 else 600.0  # the settings change every 20th turn
    return EngineConfig(vad=VadConfig(end_silence_ms=end_ms, speculate_after_ms=250.0),
                        audio=AudioConfig(prebuffer_ms=60), duplex="headphones", barge_in_ms=200.0)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def trimmed_rss_mb() -> float:
    """RSS after glibc returns its free heap pages to the OS (malloc_trim): what is still in use, not cached."""
    malloc_trim()
    return rss_mb()


def measure(turn: int, conv, runner, tensors: bool) -> dict:
    """One row: RSS (raw, trimmed, anonymous), the Python heap, glibc's in-use / free bytes, torch's CPU tensors,
    the kept prompt KV cache, and what the conversation legitimately holds (its audio in memory and its text)."""
    heap = tracemalloc.get_traced_memory()[0] / 2**20
    audio_mb, text_mb = history_audio_mb(conv), history_text_mb(conv)
    rss = rss_mb()
    trimmed = trimmed_rss_mb()
    kv_mb, kv_pos = prompt_cache_mb(getattr(runner, "prompt_cache", None))
    malloc = malloc_mb()
    return {"turn": turn, "rss_mb": rss, "rss_trimmed_mb": trimmed, "anon_mb": rss_parts()["anon_mb"],
            "heap_mb": heap, "malloc_in_use_mb": malloc["in_use_mb"], "malloc_free_mb": malloc["free_mb"],
            "torch_tensors_mb": torch_tensor_mb() if tensors else 0.0,
            "prompt_cache_mb": kv_mb, "prompt_cache_positions": kv_pos,
            "history_audio_mb": audio_mb, "history_text_mb": text_mb, "conversation_mb": audio_mb + text_mb,
            "rss_net_mb": rss - audio_mb - text_mb, "rss_trimmed_net_mb": trimmed - audio_mb - text_mb,
            "heap_net_mb": heap - audio_mb - text_mb, "turns_in_history": len(conv.turns)}


def conversation_mb(conv) -> float:
    return history_audio_mb(conv) + history_text_mb(conv)


def history_audio_mb(conv) -> float:
    """The history's audio samples held in memory (a turn whose audio lives on disk holds none)."""
    held = (t.audio_in_memory if hasattr(t, "audio_in_memory") else t.audio for t in conv.turns)
    return sum(a.nbytes for a in held if a is not None) / 2**20


def history_text_mb(conv) -> float:
    return sum(len(t.text.encode()) for t in conv.turns) / 2**20


def slope(values: list[float], skip: int) -> float:
    y = np.asarray(values[skip:], float)
    return float(np.polyfit(np.arange(y.size), y, 1)[0]) if y.size > 2 else 0.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--turns", type=int, default=100)
    p.add_argument("--speed", type=float, default=4.0, help="simulated audio runs this many times real time")
    p.add_argument("--json", type=Path)
    p.add_argument("--tensors", action="store_true", help="also sum torch's CPU tensors each turn (a gc scan)")
    p.add_argument("--no-prompt-cache", action="store_true", help="attribution: the runner keeps no KV cache")
    p.add_argument("--default-malloc", action="store_true", help="attribution: glibc's malloc defaults, untuned")
    p.add_argument("--keep-engine", action="store_true", help="attribution: never replace the engine")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from app.settings import AppSettings
    from app.window.model_loader import LoadRequest, load_models
    from core.compute import configure_cpu_threads
    from core.lm.conversation import Conversation
    from models.tiny_checkpoint import make_tiny_checkpoint
    from models.tiny_decoder import make_tiny_decoder

    configure_cpu_threads()
    if not args.default_malloc:
        from core.compute import tune_malloc

        tune_malloc()  # as the app does (app/cli.py)
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        settings = AppSettings(temperature=1.0, max_text_tokens=12, max_units=24, asr_checkpoint=None,
                               ser_checkpoint=None, text_emotion_checkpoint=None)
        req = LoadRequest(str(make_tiny_checkpoint(tmp / "ckpt")), str(make_tiny_decoder(tmp / "dec", seed=0)))
        runner, vocoder, playback = load_models(req, settings, lambda *_: None)
        if args.no_prompt_cache:
            runner.prompt_cache = None
        clips = [espeak_16k(t, tmp) for t in PHRASES]
        threads_before = {t.name for t in threading.enumerate()}
        audio, events, conv = SoakAudio(args.speed), Events(), Conversation()
        sampling = settings.config().sampling
        tracemalloc.start()
        eng = Engine(runner, vocoder, playback=playback, config=engine_config(0), sink=events, audio=audio,
                     conversation=conv, sampling=sampling)
        eng.start()
        rows, barge_ins, lost, t0 = [], 0, 0, time.monotonic()
        for i in range(1, args.turns + 1):
            # every 20th turn a settings change: the app replaces the engine, the history carries on
            # (and after a lost turn: on a starved machine the simulated microphone may stall until the engine
            # declares the device lost and stops; the app would then offer to restart it)
            if (not args.keep_engine and i > 1 and (i - 1) % 20 == 0) or eng.state is EngineState.IDLE:
                last = eng.last_turn_id
                eng.stop()
                eng = Engine(runner, vocoder, playback=playback, config=engine_config(i - 1), sink=events, audio=audio,
                             conversation=conv, sampling=sampling, first_turn_id=last + 1)
                eng.start()
            mark = events.mark()
            audio.say(clips[i % len(clips)])
            try:
                if i % 5 == 4 and i < args.turns:  # the next utterance barges in on this reply
                    events.wait(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING, mark)
                else:
                    events.wait(lambda e: isinstance(e, ReplyEnded), mark)
                    events.wait(lambda e: isinstance(e, StateChanged) and e.reason == "reply_done", mark)
            except TimeoutError:  # on a loaded machine the capture queue may drop the utterance: go on
                lost += 1
                print(f"turn {i:3d}: no reply within {WAIT_S:.0f} s (lost; engine {eng.state.value}); going on",
                      flush=True)
            barge_ins = events.barge_ins
            gc.collect()
            rows.append(measure(i, conv, runner, tensors=args.tensors))
            r = rows[-1]
            print(f"turn {i:3d}: RSS {r['rss_mb']:7.1f} MB (trimmed {r['rss_trimmed_mb']:7.1f}, anon "
                  f"{r['anon_mb']:6.1f})  heap {r['heap_mb']:6.2f}  malloc {r['malloc_in_use_mb']:6.1f} "
                  f"(free {r['malloc_free_mb']:5.1f})  tensors {r['torch_tensors_mb']:6.1f}  KV "
                  f"{r['prompt_cache_mb']:5.2f} ({r['prompt_cache_positions']} pos)  history audio "
                  f"{r['history_audio_mb']:5.2f} text {1024 * r['history_text_mb']:5.1f} KB  net: RSS "
                  f"{r['rss_net_mb']:7.1f}  heap {r['heap_net_mb']:6.2f}", flush=True)
        eng.stop()
        elapsed = time.monotonic() - t0
        time.sleep(0.5)
        alive = sorted(t.name for t in threading.enumerate() if t.name not in threads_before)
        skip = min(10, max(0, len(rows) - 3))
        summary = {
            "turns": args.turns, "turns_lost": lost, "speed": args.speed, "barge_ins": barge_ins,
            "engine_replacements": (args.turns - 1) // 20,
            "elapsed_s": round(elapsed, 1),
            "rss_first_mb": round(rows[0]["rss_mb"], 1), "rss_last_mb": round(rows[-1]["rss_mb"], 1),
            "rss_growth_kb_per_turn": round(1024 * slope([r["rss_mb"] for r in rows], skip), 1),
            "rss_net_growth_kb_per_turn": round(1024 * slope([r["rss_net_mb"] for r in rows], skip), 1),
            "rss_trimmed_growth_kb_per_turn": round(1024 * slope([r["rss_trimmed_mb"] for r in rows], skip), 1),
            **{f"{key.removesuffix('_mb')}_growth_kb_per_turn": round(1024 * slope([r[key] for r in rows], skip), 1)
               for key in ("rss_trimmed_net_mb", "anon_mb", "heap_mb", "heap_net_mb", "malloc_in_use_mb",
                           "malloc_free_mb", "torch_tensors_mb", "prompt_cache_mb", "history_audio_mb",
                           "history_text_mb", "conversation_mb")},
            "prompt_cache_positions_last": rows[-1]["prompt_cache_positions"],
            "threads_alive_after_stop": alive,
        }
        print(json.dumps(summary, indent=1))
        if args.json:
            args.json.write_text(json.dumps({"summary": summary, "turns": rows}, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
