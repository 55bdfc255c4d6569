"""The two pipeline stages, as callable classes Ray Data runs on actors (each loads its models once):
DialogueStage (seed -> LLM answer -> schema) and SpeechStage (TTS, checks, units, files). Per-record failures are
dropped and counted under a reason key; nothing a record does can stop the run."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.data.config import DataConfig
from core.data.schema import Dialogue, Rejected, parse_generation
from core.data.seeds import Seed, SeedLists, draw_seed, load_seed_lists
from core.data.store import Store
from core.data.tts import SpeechRequest

log = logging.getLogger(__name__)

Batch = dict[str, Any]  # Ray Data batch: column -> list / array
LMFactory = Callable[[DataConfig, SeedLists], Any]


def _set_threads(cpus: float) -> None:
    import torch

    torch.set_num_threads(max(1, int(cpus)))


def _column(batch: Batch, key: str) -> list:
    return [v.item() if hasattr(v, "item") else v for v in batch[key]]


def _short(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:200]


class DialogueStage:
    def __init__(self, config: DataConfig, lm_factory: LMFactory | None = None) -> None:
        _set_threads(config.run.cpus_per_actor)
        self.config = config
        self.lists = load_seed_lists(config.seeds_file)
        if lm_factory is None:
            from core.data.llm import load_dialogue_lm

            self.lm = load_dialogue_lm(config.llm, self.lists)
        else:
            self.lm = lm_factory(config, self.lists)

    def __call__(self, batch: Batch) -> Batch:
        seeds = [draw_seed(self.lists, self.config.speech.user_voices, self.config.seed, i)
                 for i in _column(batch, "index")]
        t0 = time.perf_counter()
        try:
            raws = self.lm.generate(seeds)
            if len(raws) != len(seeds):
                raise RuntimeError(f"the LLM returned {len(raws)} answers for {len(seeds)} prompts")
        except Exception as err:  # noqa: BLE001 - a failed call drops its records, the run goes on
            log.warning("LLM call failed: %s", _short(err))
            raws = [None] * len(seeds)
            failure = _short(err)
        llm_s = (time.perf_counter() - t0) / max(len(seeds), 1)
        results = []
        for raw in raws:
            if raw is None:
                results.append({"reject": {"reason": "llm:error", "detail": failure}})
                continue
            parsed = parse_generation(str(raw), self.lists)
            if isinstance(parsed, Rejected):
                results.append({"reject": {"reason": parsed.reason, "detail": parsed.detail}})
            else:
                results.append({"dialogue": parsed.to_dict()})
        return {
            "index": [s.index for s in seeds],
            "result": [json.dumps(r, ensure_ascii=False) for r in results],
            "raw": [str(r)[:2000] if r is not None else "" for r in raws],
            "llm_s": [llm_s] * len(seeds),
        }


class SpeechStage:
    def __init__(self, config: DataConfig, out: str) -> None:
        from core.data.quality import QualityChecks
        from core.data.tts import load_synth
        from core.data.units import load_unit_encoder

        _set_threads(config.run.cpus_per_actor)
        self.config = config
        self.lists = load_seed_lists(config.seeds_file)
        self.store = Store(out)
        self.synth = load_synth(config.speech)
        self.checks = QualityChecks(config.filters)
        self.units = load_unit_encoder(config.units)

    def __call__(self, batch: Batch) -> Batch:
        rows = []
        for index, result, raw, llm_s in zip(_column(batch, "index"), _column(batch, "result"),
                                             _column(batch, "raw"), _column(batch, "llm_s"), strict=True):
            seed = draw_seed(self.lists, self.config.speech.user_voices, self.config.seed, int(index))
            state = self.process(seed, json.loads(result), raw, float(llm_s))
            self.store.write_record(seed.record_id, state)
            rows.append(state)
        return {
            "index": [r["index"] for r in rows],
            "status": [r["status"] for r in rows],
            "reason": [r.get("reason", "") for r in rows],
        }

    def process(self, seed: Seed, result: dict[str, Any], raw: str, llm_s: float) -> dict[str, Any]:
        state: dict[str, Any] = {
            "id": seed.record_id, "index": seed.index, "seed": seed.__dict__, "timings_s": {"llm": round(llm_s, 4)},
        }
        if "reject" in result:
            return {**state, "status": "dropped", **result["reject"], "raw": raw}
        dialogue = Dialogue(**result["dialogue"])
        state["dialogue"] = dialogue.to_dict()
        progress = {"stage": "tts"}  # the step under way, named in the drop reason if it raises
        try:
            return self._speak(seed, dialogue, state, progress)
        except Exception as err:  # noqa: BLE001 - one bad record is dropped, never the run
            log.warning("record %s: %s failed: %s", seed.record_id, progress["stage"], _short(err))
            log.debug("%s", traceback.format_exc())
            return {**state, "status": "dropped", "reason": f"{progress['stage']}:error", "detail": _short(err)}

    def _speak(self, seed: Seed, dialogue: Dialogue, state: dict[str, Any], progress: dict[str, str]
               ) -> dict[str, Any]:
        from core.data.units import encode_one

        cfg, timings = self.config, state["timings_s"]
        clock = _StageClock(timings, progress)
        with clock("tts"):
            user = self._synth(SpeechRequest(dialogue.user_text, seed.user_voice, dialogue.user_emotion,
                                             dialogue.user_style))
            reply = self._synth(SpeechRequest(dialogue.assistant_text, cfg.speech.assistant_voice,
                                              dialogue.assistant_emotion))
        rate = cfg.speech.sample_rate_hz
        checks: dict[str, Any] = {}
        turns = (("user", user, dialogue.user_text, dialogue.user_emotion),
                 ("assistant", reply, dialogue.assistant_text, dialogue.assistant_emotion))
        with clock("filter"):
            failed = None
            for role, samples, text, emotion in turns:
                check = self.checks.check(samples, rate, text, emotion)
                checks[role] = check.to_dict()
                if check.reason:
                    failed = (check.reason, role)
                    break
        if failed:
            return {**state, "status": "dropped", "reason": failed[0], "detail": failed[1], "checks": checks}
        with clock("units"):
            units = encode_one(self.units, reply, rate)
            if not units:
                raise RuntimeError("the speech tokenizer returned no units")
        with clock("write"):
            user_path = self.store.write_audio(seed.record_id, "user", user, rate)
            reply_path = self.store.write_audio(seed.record_id, "assistant", reply, rate)
        return {
            **state, "status": "ok", "checks": checks, "units": units,
            "user_audio": str(user_path.relative_to(self.store.out)),
            "assistant_audio": str(reply_path.relative_to(self.store.out)),
        }

    def close(self) -> None:
        self.checks.close()

    def _synth(self, request: SpeechRequest) -> np.ndarray:
        samples, rate = self.synth.synthesize(request)
        target = self.config.speech.sample_rate_hz
        if rate != target:
            import soxr

            samples = soxr.resample(samples, rate, target)
        return np.asarray(samples, dtype=np.float32)


class _StageClock:
    """`with clock("tts"):` adds the block's seconds to timings["tts"] and names the stage under way."""

    def __init__(self, timings: dict[str, float], progress: dict[str, str]) -> None:
        self.timings, self.progress = timings, progress

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        self.progress["stage"] = stage
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = round(time.perf_counter() - t0, 4)


def jsonl_row(state: dict[str, Any], out: Path, absolute: bool) -> dict[str, Any]:
    """One training example: the user's audio, then the reply's text and units (OpenS2S jsonl)."""
    from core.data.units import unit_string

    user_audio = str((out / state["user_audio"]).resolve()) if absolute else state["user_audio"]
    d = state["dialogue"]
    return {
        "id": state["id"],
        "messages": [
            {"role": "user", "content": [{"text": "", "audio": user_audio, "speech_units": ""}]},
            {"role": "assistant", "content": [
                {"text": d["assistant_text"], "audio": "", "speech_units": unit_string(state["units"])}]},
        ],
        "meta": {
            "user_text": d["user_text"], "user_emotion": d["user_emotion"], "user_style": d["user_style"],
            "assistant_emotion": d["assistant_emotion"], "user_voice": state["seed"]["user_voice"],
            "assistant_audio": state["assistant_audio"], "situation": state["seed"]["situation"],
            "persona": state["seed"]["persona"],
        },
    }
