"""`make-data` orchestration: pending records through Ray Data (dialogue actors -> speech actors), a progress bar,
then the jsonl and manifest assembled from the per-record state files (so a resumed run writes the same files)."""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.data.config import DataConfig
from core.data.config_io import to_plain
from core.data.seeds import DEFAULT_SEEDS_FILE, SeedLists, draw_seed, load_seed_lists
from core.data.stages import DialogueStage, LMFactory, SpeechStage, jsonl_row
from core.data.store import JSONL_NAME, MANIFEST_NAME, Store, atomic_write_bytes, atomic_write_json
from core.files import refuse_overlap
from models.errors import UserError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
STAGES = ("llm", "tts", "filter", "units", "write")


@dataclass(frozen=True)
class RunSummary:
    attempted: int
    kept: int
    dropped: dict[str, int]  # reason -> count
    stage_seconds: dict[str, float]  # summed over the dataset's records
    processed_this_run: int
    wall_s: float
    jsonl: Path

    def lines(self) -> list[str]:
        out = [f"records: {self.attempted} attempted, {self.kept} kept, {sum(self.dropped.values())} dropped "
               f"({self.processed_this_run} processed in this run, {self.wall_s:.1f} s wall)"]
        out += [f"  dropped {reason}: {n}" for reason, n in sorted(self.dropped.items())]
        out += [f"  time {stage}: {s:.1f} s" for stage, s in self.stage_seconds.items()]
        out.append(f"dataset: {self.jsonl}")
        return out


def make_data(config: DataConfig, out: str | Path, ray_address: str | None = None, progress: bool = True,
              lm_factory: LMFactory | None = None, inline: bool = False) -> RunSummary:
    """Make the records `config` asks for that `out` lacks, then (re)write data.jsonl and manifest.json.

    Ray Data runs the stages (local Ray unless `ray_address`); `inline` runs them in this process instead (small
    runs, debugging). `lm_factory(config, seed_lists)` replaces the dialogue LLM (tests)."""
    t_start = time.perf_counter()
    store = Store(out)
    lists = load_seed_lists(config.seeds_file)  # a bad seeds file fails here, before any worker starts
    _preflight(config)
    refuse_overlap(store.out, input_paths(config))
    store.prepare(config, {"seeds_file": str(config.seeds_file or DEFAULT_SEEDS_FILE)})
    done = store.done_ids()
    pending = [i for i in range(config.n_dialogues)
               if draw_seed(lists, config.speech.user_voices, config.seed, i).record_id not in done]
    log.info("%d of %d records to make (%d done before)", len(pending), config.n_dialogues,
             config.n_dialogues - len(pending))
    if pending and inline:
        _run_inline(config, store, pending, progress, lm_factory)
    elif pending:
        _run_ray(config, store, pending, ray_address, progress, lm_factory)
    states = store.read_records(limit=config.n_dialogues)
    summary = _summarize(states, store, config, len(pending), time.perf_counter() - t_start)
    _write_outputs(states, store, config, summary, lists)
    return summary


def _preflight(config: DataConfig) -> None:
    """Problems a user can fix, found before Ray starts (inside an actor they surface as long tracebacks)."""
    checks = [("llm.path", config.llm.path), ("units.tokenizer", config.units.tokenizer)]
    if config.speech.backend == "vits":
        checks.append(("speech.checkpoint", config.speech.checkpoint or ""))
    for key, path in checks:
        if not Path(path).is_dir():
            raise UserError(f"{key}: {path} is not a folder")
    if config.speech.backend == "espeak":
        from core.data.tts_espeak import EspeakSynth

        synth = EspeakSynth()
        for voice in (*config.speech.user_voices, config.speech.assistant_voice):
            synth.check_voice(voice)


def input_paths(config: DataConfig) -> dict[str, Path | None]:
    """What a run reads, by key ({key: path}; hub ids and absent paths are left out): --out may not overlap them."""
    given = {"seeds_file": config.seeds_file or DEFAULT_SEEDS_FILE,
             "llm.path": config.llm.path, "units.tokenizer": config.units.tokenizer,
             "speech.checkpoint": config.speech.checkpoint, "filters.asr_checkpoint": config.filters.asr_checkpoint,
             "filters.emotion_checkpoint": config.filters.emotion_checkpoint}
    return {key: Path(p) for key, p in given.items() if p and Path(p).exists()}


def _ray_init(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    if address:  # a cluster: ship this project's packages to its workers
        runtime_env = {"py_modules": [str(REPO_ROOT / name) for name in ("core", "models")]}
        try:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
        except (ConnectionError, RuntimeError, ValueError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise UserError(f"--ray {address}: cannot join the cluster ({first[:200]})") from None
    else:
        ray.init(include_dashboard=False, log_to_driver=True, runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
                 configure_logging=False)


def _run_ray(config: DataConfig, store: Store, pending: list[int], address: str | None, progress: bool,
             lm_factory: LMFactory | None) -> None:
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    _ray_init(address)
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.execution_options.preserve_order = False
    run = config.run
    ds = ray.data.from_items([{"index": i} for i in pending],
                             override_num_blocks=max(1, len(pending) // config.llm.batch_size))
    ds = ds.map_batches(
        DialogueStage, fn_constructor_kwargs={"config": config, "lm_factory": lm_factory},
        batch_size=config.llm.batch_size, compute=ActorPoolStrategy(size=run.llm_actors),
        num_cpus=run.cpus_per_actor, num_gpus=run.gpus_per_llm_actor or None,
    )
    ds = ds.map_batches(
        SpeechStage, fn_constructor_kwargs={"config": config, "out": str(store.out)},
        batch_size=config.speech.batch_size, compute=ActorPoolStrategy(size=run.speech_actors),
        num_cpus=run.cpus_per_actor,
    )
    with _Progress(len(pending), progress) as bar:
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                bar.add(list(batch["status"]))
        except Exception as err:  # Ray wraps a worker's exception; show its own one line
            raise _worker_error(err) from None


def _run_inline(config: DataConfig, store: Store, pending: list[int], progress: bool,
                lm_factory: LMFactory | None) -> None:
    dialogues = DialogueStage(config, lm_factory)
    speech = SpeechStage(config, str(store.out))
    step = config.llm.batch_size
    try:
        with _Progress(len(pending), progress) as bar:
            for start in range(0, len(pending), step):
                result = speech(dialogues({"index": pending[start : start + step]}))
                bar.add(list(result["status"]))
    finally:
        speech.close()


def _worker_error(err: Exception) -> Exception:
    cause = getattr(err, "cause", None)
    while cause is not None and getattr(cause, "cause", None) is not None:
        cause = cause.cause
    if isinstance(cause, UserError):
        return cause
    last = [line for line in str(err).splitlines() if line.strip()]
    return UserError(f"a data worker failed: {(last[-1] if last else type(err).__name__)[:300]}")


class _Progress:
    """A tqdm bar over records (rate and ETA), with kept/dropped counts."""

    def __init__(self, total: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="dlg", desc="make-data", disable=not enabled, dynamic_ncols=True,
                        smoothing=0.1, file=sys.stderr)
        self.counts: Counter[str] = Counter()

    def add(self, statuses: list[str]) -> None:
        for status in statuses:
            self.counts["kept" if status == "ok" else "dropped"] += 1
        self.bar.set_postfix(kept=self.counts["kept"], dropped=self.counts["dropped"], refresh=False)
        self.bar.update(len(statuses))

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def _summarize(states: list[dict], store: Store, config: DataConfig, processed: int, wall_s: float) -> RunSummary:
    dropped = Counter(s["reason"] for s in states if s["status"] != "ok")
    seconds = {stage: round(sum(s.get("timings_s", {}).get(stage, 0.0) for s in states), 2) for stage in STAGES}
    return RunSummary(
        attempted=len(states), kept=sum(s["status"] == "ok" for s in states), dropped=dict(sorted(dropped.items())),
        stage_seconds=seconds, processed_this_run=processed, wall_s=wall_s, jsonl=store.out / JSONL_NAME,
    )


def _write_outputs(states: list[dict], store: Store, config: DataConfig, summary: RunSummary, lists: SeedLists) -> None:
    rows = [jsonl_row(s, store.out, config.absolute_audio_paths) for s in states if s["status"] == "ok"]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    atomic_write_bytes(store.out / JSONL_NAME, text.encode("utf-8"))
    seeds_file = Path(config.seeds_file or DEFAULT_SEEDS_FILE)
    import hashlib

    manifest = {
        "format": "OpenS2S training jsonl (messages; user audio, assistant text + speech_units)",
        "jsonl": JSONL_NAME,
        "config": to_plain(config),
        "counts": {"attempted": summary.attempted, "kept": summary.kept, "dropped": summary.dropped},
        "seeds": {"base_seed": config.seed, "seeds_file": str(seeds_file),
                  "seeds_sha256": hashlib.sha256(seeds_file.read_bytes()).hexdigest(),
                  "combinations": lists.n_combinations,
                  "record_seed": "sha256('opens2s-data:{seed}:{index}') picks the seed row and the LLM seed"},
        "stage_seconds": summary.stage_seconds,
        "versions": _versions(),
    }
    atomic_write_json(store.out / MANIFEST_NAME, manifest)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "ray", "numpy", "soundfile"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = "absent"
    try:
        first = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, timeout=10).stdout
        out["espeak-ng"] = first.split("text-to-speech:")[-1].split("Data")[0].strip()
    except (OSError, subprocess.SubprocessError):
        out["espeak-ng"] = "absent"
    try:
        out["project_commit"] = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                                               text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        out["project_commit"] = "unknown"
    return out
