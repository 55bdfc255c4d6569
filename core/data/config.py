"""`make-data` settings: frozen, validated dataclasses built from a YAML/JSON file (see docs/data.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from core.data.config_io import ConfigError, build, read_mapping

LLM_BACKENDS = ("auto", "transformers", "vllm")
LLM_MODES = ("guided", "json")
TTS_BACKENDS = ("espeak", "vits")
DTYPES = ("float32", "bfloat16", "float16")
# Upper bounds of the counts (a typo such as 1e30 must fail at once, not allocate for a minute). Record ids have
# six digits, so a folder holds at most MAX_DIALOGUES records.
MAX_DIALOGUES = 1_000_000
MAX_BATCH = 4096
MAX_ACTORS = 1024
MAX_NEW_TOKENS = 32_768


def check_range(key: str, value: float, low: float, high: float, low_open: bool = False) -> None:
    """`low <= value <= high` (or `low < value` with `low_open`); a ValueError naming `key` otherwise."""
    below = value <= low if low_open else value < low
    if below or value > high:
        bound = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise ValueError(f"{key} must be in {bound}, got {value}")


@dataclass(frozen=True)
class LLMConfig:
    """The dialogue writer: a local Hugging Face causal-LM folder and its sampling settings."""

    path: str = ""
    backend: Literal["auto", "transformers", "vllm"] = "auto"  # auto: vLLM when installed and a GPU is present
    mode: Literal["guided", "json"] = "guided"  # guided: we write the JSON keys, the LM fills values
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 50
    repetition_penalty: float = 1.05
    max_new_tokens: int = 384  # json mode: the whole answer
    max_field_tokens: int = 64  # guided mode: each text field
    batch_size: int = 4  # records per LLM call (vLLM batches them; transformers runs them one by one)
    alphabet: Literal["ascii", "printable"] = "ascii"  # guided mode: which characters text fields may use

    def __post_init__(self) -> None:
        if not self.path.strip():
            raise ValueError("llm.path is required: a local Hugging Face causal-LM folder")
        if self.temperature < 0:
            raise ValueError(f"llm.temperature must be >= 0 (0 = greedy), got {self.temperature}")
        check_range("llm.temperature", self.temperature, 0, 10)
        if not 0 < self.top_p <= 1:
            raise ValueError(f"llm.top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0 or self.repetition_penalty <= 0:
            raise ValueError("llm.top_k must be >= 0 and llm.repetition_penalty > 0")
        check_range("llm.top_k", self.top_k, 0, 1_000_000)
        check_range("llm.repetition_penalty", self.repetition_penalty, 0, 10, low_open=True)
        for name in ("max_new_tokens", "max_field_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"llm.{name} must be >= 1, got {getattr(self, name)}")
        check_range("llm.max_new_tokens", self.max_new_tokens, 1, MAX_NEW_TOKENS)
        check_range("llm.max_field_tokens", self.max_field_tokens, 1, MAX_NEW_TOKENS)
        check_range("llm.batch_size", self.batch_size, 1, MAX_BATCH)
        if self.device.split(":", 1)[0] not in ("cpu", "cuda"):
            raise ValueError(f"llm.device must be cpu, cuda or cuda:N, got {self.device!r}")


@dataclass(frozen=True)
class SpeechConfig:
    """Text to speech: one backend; user turns rotate over `user_voices`, replies use `assistant_voice`."""

    backend: Literal["espeak", "vits"] = "espeak"
    checkpoint: str | None = None  # vits: a local VitsModel folder
    device: str = "cpu"
    user_voices: tuple[str, ...] = ("en-us+m3", "en-us+f2", "en-gb+m1", "en-gb+f3", "en-us+m7", "en-us+f4")
    assistant_voice: str = "en-us+f1"
    sample_rate_hz: int = 16_000  # rate of the written WAVs (and what the filters and units see)
    batch_size: int = 4

    def __post_init__(self) -> None:
        if not self.user_voices:
            raise ValueError("speech.user_voices must name at least one voice")
        if self.backend == "vits" and not self.checkpoint:
            raise ValueError("speech.checkpoint is required for the vits backend (a local VitsModel folder)")
        if not 8_000 <= self.sample_rate_hz <= 48_000:
            raise ValueError(f"speech.sample_rate_hz must be in [8000, 48000], got {self.sample_rate_hz}")
        if self.batch_size < 1:
            raise ValueError("speech.batch_size must be >= 1")
        check_range("speech.batch_size", self.batch_size, 1, MAX_BATCH)


@dataclass(frozen=True)
class FilterConfig:
    """Quality filters on both synthesized turns; `None` turns a check off."""

    min_duration_s: float = 0.5  # user turns under 0.5 s (8000 samples) are dropped by OpenS2S's loader anyway
    max_duration_s: float = 30.0
    max_silence_ratio: float = 0.7  # share of 20 ms frames below silence_dbfs
    silence_dbfs: float = -45.0
    max_clipped_ratio: float = 0.001  # share of samples at |x| >= 0.999
    asr_checkpoint: str | None = None  # Whisper folder or hub id (the listener's); None = no WER check
    max_wer: float = 0.5
    asr_max_new_tokens: int = 128  # per 30 s window
    emotion_checkpoint: str | None = None  # speech-emotion classifier; None = no emotion check
    emotion_map: tuple[str, ...] = ()  # "ourlabel=theirlabel" pairs; unmapped labels are not checked
    local_files_only: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.min_duration_s < self.max_duration_s:
            raise ValueError("filters: need 0 < min_duration_s < max_duration_s")
        check_range("filters.max_duration_s", self.max_duration_s, 0, 3600, low_open=True)
        check_range("filters.silence_dbfs", self.silence_dbfs, -200, 0)
        for name in ("max_silence_ratio", "max_clipped_ratio"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"filters.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.asr_max_new_tokens < 1:
            raise ValueError(f"filters.asr_max_new_tokens must be >= 1, got {self.asr_max_new_tokens}")
        check_range("filters.asr_max_new_tokens", self.asr_max_new_tokens, 1, MAX_NEW_TOKENS)
        if self.max_wer < 0:
            raise ValueError(f"filters.max_wer must be >= 0, got {self.max_wer}")
        for pair in self.emotion_map:
            if pair.count("=") != 1:
                raise ValueError(f"filters.emotion_map entries look like 'sad=sad', got {pair!r}")


@dataclass(frozen=True)
class UnitsConfig:
    tokenizer: str = ""  # a speech-tokenizer folder (SpeechTokenizer.load)
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.tokenizer.strip():
            raise ValueError("units.tokenizer is required: a speech-tokenizer folder")


@dataclass(frozen=True)
class RunConfig:
    """How the work is spread: Ray Data actors per stage (each loads its models once)."""

    llm_actors: int = 1
    speech_actors: int = 1
    cpus_per_actor: float = 1.0
    gpus_per_llm_actor: float = 0.0

    def __post_init__(self) -> None:
        if self.llm_actors < 1 or self.speech_actors < 1:
            raise ValueError("run.llm_actors and run.speech_actors must be >= 1")
        if self.cpus_per_actor <= 0 or self.gpus_per_llm_actor < 0:
            raise ValueError("run.cpus_per_actor must be > 0 and run.gpus_per_llm_actor >= 0")
        check_range("run.llm_actors", self.llm_actors, 1, MAX_ACTORS)
        check_range("run.speech_actors", self.speech_actors, 1, MAX_ACTORS)
        check_range("run.cpus_per_actor", self.cpus_per_actor, 0, MAX_ACTORS, low_open=True)
        check_range("run.gpus_per_llm_actor", self.gpus_per_llm_actor, 0, 64)


@dataclass(frozen=True)
class DataConfig:
    """The whole `make-data` run. `n_dialogues` records are attempted; drops are counted, not retried."""

    llm: LLMConfig
    units: UnitsConfig
    n_dialogues: int = 100
    seed: int = 0
    seeds_file: str | None = None  # None = assets/data/seeds.yaml
    absolute_audio_paths: bool = False  # False: paths relative to the jsonl's folder
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        if self.n_dialogues < 1:
            raise ValueError(f"n_dialogues must be >= 1, got {self.n_dialogues}")
        if self.n_dialogues > MAX_DIALOGUES:
            raise ValueError(f"n_dialogues must be at most {MAX_DIALOGUES} (record ids have six digits), got "
                             f"{self.n_dialogues}; split a larger dataset over several --out folders and seeds")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


REQUIRED_SECTIONS = ("llm", "units")


def load_data_config(path: str | Path) -> DataConfig:
    """Read and validate a `make-data` config file; relative paths in it resolve against its folder."""
    path = Path(path)
    data = read_mapping(path)
    for section in REQUIRED_SECTIONS:
        if section not in data:
            raise ConfigError(f"{path}: missing section '{section}'")
    try:
        config = build(DataConfig, data, "")
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return _resolve_paths(config, path.parent)


def _resolve_paths(config: DataConfig, base: Path) -> DataConfig:
    from dataclasses import replace

    def local(p: str | None) -> str | None:
        if p is None:
            return None
        q = Path(p).expanduser()
        return str(q if q.is_absolute() or not (base / q).exists() else (base / q).resolve())

    return replace(
        config,
        seeds_file=local(config.seeds_file),
        llm=replace(config.llm, path=local(config.llm.path)),
        speech=replace(config.speech, checkpoint=local(config.speech.checkpoint)),
        filters=replace(config.filters, asr_checkpoint=local(config.filters.asr_checkpoint),
                        emotion_checkpoint=local(config.filters.emotion_checkpoint)),
        units=replace(config.units, tokenizer=local(config.units.tokenizer)),
    )
