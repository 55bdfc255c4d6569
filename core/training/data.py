"""The OpenS2S training jsonl, read and validated as data (no tokenizer, no model needed).

One line = one example: `{"messages": [{"role": "user"|"assistant", "content": [item, ...]}, ...]}` where an item is
`{"text", "audio", "speech_units", "spk_emb"}` (absent or empty keys are skipped). An item is audio if `audio` is set
(user turns only), speech if `speech_units` is set (assistant turns only; `text` required), text otherwise.
`speech_units` is the reference's string `"<|audio_12|><|audio_7|>..."` (a list of ints is accepted too).
Paths (`audio`, `spk_emb`) are absolute or relative to the jsonl's folder.

`load_dataset_file(path)` raises one `DataError` line naming the file and line for: an empty file, a line that is not
a JSON object, wrong columns, wrong roles or item keys, audio or speaker files that do not exist, and units outside
the codebook. Unreadable or too-short audio is not an error here: the encoder step skips and counts it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from models.errors import UserError
from models.special_tokens import N_SPEECH_UNITS

log = logging.getLogger(__name__)

USER, ASSISTANT = "user", "assistant"
ITEM_KEYS = frozenset({"text", "audio", "speech_units", "spk_emb"})
EXTRA_COLUMNS = frozenset({"id", "meta"})  # tolerated beside "messages" (bookkeeping of data builders)
UNIT_RE = re.compile(r"<\|audio_(\d{1,9})\|>")  # more digits: never a unit (and no 4300-digit int)
MAX_LINE_BYTES = 16 * 2**20  # a long spoken reply is ~10 KB of units; anything near this is not a real record


class DataError(UserError):
    """A training data file that cannot be used as it is; the message names the file and line."""


@dataclass(frozen=True)
class Item:
    """One content item: exactly one of audio / units / plain text is its kind."""

    text: str = ""
    audio: Path | None = None
    units: tuple[int, ...] = ()  # speech-unit indices (0..N-1), not TTS token ids
    spk_emb: Path | None = None

    @property
    def kind(self) -> str:
        return "audio" if self.audio is not None else "speech" if self.units else "text"


@dataclass(frozen=True)
class Message:
    role: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class RawExample:
    line_no: int  # 1-based line in the jsonl
    messages: tuple[Message, ...]

    @property
    def audio_paths(self) -> list[Path]:
        return [it.audio for m in self.messages for it in m.items if it.audio is not None]


@dataclass(frozen=True)
class DatasetFile:
    path: Path
    examples: tuple[RawExample, ...]


def parse_units(value: object, where: str, n_units: int = N_SPEECH_UNITS) -> tuple[int, ...]:
    """`"<|audio_3|><|audio_9|>"` (or [3, 9]) -> (3, 9); anything else, or a unit >= n_units, is a DataError."""
    if isinstance(value, list):
        if not all(isinstance(u, int) and not isinstance(u, bool) for u in value):
            raise DataError(f"{where}: speech_units list must hold integers")
        units = tuple(value)
    elif isinstance(value, str):
        compact = "".join(value.split())
        units = tuple(int(m) for m in UNIT_RE.findall(compact))
        if UNIT_RE.sub("", compact):
            bad = UNIT_RE.sub(" ", compact).split()[0]
            raise DataError(f"{where}: speech_units must be <|audio_N|> tokens only, found {bad[:40]!r}")
    else:
        raise DataError(f"{where}: speech_units must be a string of <|audio_N|> tokens")
    bad_units = [u for u in units if not 0 <= u < n_units]
    if bad_units:
        raise DataError(f"{where}: speech unit {bad_units[0]} is outside the vocabulary (0..{n_units - 1})")
    return units


def _path(value: object, base: Path, where: str, key: str) -> Path:
    if not isinstance(value, str):
        raise DataError(f"{where}: '{key}' must be a path string")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise DataError(f"{where}: {key} file {value!r} not found (paths are absolute or relative to the jsonl)")
    return path


def _item(raw: object, role: str, base: Path, where: str, n_units: int) -> Item | None:
    if not isinstance(raw, dict):
        raise DataError(f"{where}: each content item must be an object with text/audio/speech_units/spk_emb")
    unknown = sorted(set(raw) - ITEM_KEYS)
    if unknown:
        raise DataError(f"{where}: unknown item key(s) {unknown}; expected {sorted(ITEM_KEYS)}")
    text = raw.get("text") or ""
    if not isinstance(text, str):
        raise DataError(f"{where}: 'text' must be a string")
    if raw.get("audio"):
        if role != USER:
            raise DataError(f"{where}: audio items belong in user turns (assistant speech uses speech_units)")
        return Item(audio=_path(raw["audio"], base, where, "audio"))
    if raw.get("speech_units"):
        if role != ASSISTANT:
            raise DataError(f"{where}: speech_units belong in assistant turns")
        if not text:
            raise DataError(f"{where}: an item with speech_units needs its 'text'")
        spk = _path(raw["spk_emb"], base, where, "spk_emb") if raw.get("spk_emb") else None
        return Item(text=text, units=parse_units(raw["speech_units"], where, n_units), spk_emb=spk)
    return Item(text=text) if text else None  # empty items are skipped, as in the reference


def parse_line(line: str, line_no: int, base: Path, where: str, n_units: int = N_SPEECH_UNITS) -> RawExample:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise DataError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
    except RecursionError:
        raise DataError(f"{where}: nested too deeply to be a training record (one object per line: messages, "
                        "content items)") from None
    if not isinstance(row, dict):
        raise DataError(f"{where}: each line must be a JSON object with a 'messages' column")
    if "messages" not in row:
        raise DataError(f"{where}: wrong columns {sorted(row)}: expected 'messages'")
    unknown = sorted(set(row) - {"messages"} - EXTRA_COLUMNS)
    if unknown:
        raise DataError(f"{where}: unknown column(s) {unknown}; expected 'messages' (and optionally id, meta)")
    if not isinstance(row["messages"], list) or not row["messages"]:
        raise DataError(f"{where}: 'messages' must be a non-empty list")
    messages = []
    for k, msg in enumerate(row["messages"]):
        at = f"{where} message {k}"
        if not isinstance(msg, dict) or set(msg) - {"role", "content"} or "role" not in msg:
            raise DataError(f"{at}: a message is an object with 'role' and 'content' only")
        if msg["role"] not in (USER, ASSISTANT):
            raise DataError(f"{at}: role {msg['role']!r} must be 'user' or 'assistant' (the system turn is added)")
        if not isinstance(msg.get("content"), list):
            raise DataError(f"{at}: 'content' must be a list of items")
        items = [_item(raw, msg["role"], base, at, n_units) for raw in msg["content"]]
        messages.append(Message(msg["role"], tuple(it for it in items if it is not None)))
    if not any(m.role == ASSISTANT for m in messages):
        raise DataError(f"{where}: no assistant turn, so nothing to learn")
    return RawExample(line_no=line_no, messages=tuple(messages))


def _lines(path: Path):
    """(line number, text) of each line, read one line at a time: a huge line is refused before it is held whole."""
    with path.open("rb") as f:
        line_no = 0
        while True:
            raw = f.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            line_no += 1
            if len(raw) > MAX_LINE_BYTES:
                raise DataError(f"{path} line {line_no}: longer than {MAX_LINE_BYTES // 2**20} MiB; a training record "
                                "holds text, unit strings and paths (audio stays in its own files)")
            try:
                yield line_no, raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{path} line {line_no}: not UTF-8 text (a binary file?); training data is a jsonl "
                                "file, one JSON object per line") from None


def load_dataset_file(path: str | Path, n_units: int = N_SPEECH_UNITS) -> DatasetFile:
    """Read and validate a whole training jsonl; the first problem raises one DataError naming its line."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: training data file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file; give the training jsonl file")
    base = path.resolve().parent
    try:
        examples = [parse_line(line, i, base, f"{path} line {i}", n_units) for i, line in _lines(path) if line.strip()]
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror or err})") from None
    if not examples:
        raise DataError(f"{path}: empty file, no examples (one JSON object per line)")
    log.info("%s: %d examples", path, len(examples))
    return DatasetFile(path=path, examples=tuple(examples))
