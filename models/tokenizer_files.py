"""Load a checkpoint's tokenizer (the LLM's at the root, the TTS LM's in tts/) and refuse one that cannot work.

Without tokenizer.json and without vocab.json + merges.txt, transformers still builds a tokenizer that turns
every text into no tokens at all: the user's words would silently become an empty prompt. So the files are
checked first (naming what is missing), and the loaded tokenizer must turn a probe text into tokens."""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from models.errors import CheckpointError, allocation_failure
from models.json_file import read_json, unreadable

log = logging.getLogger(__name__)

FAST_FILE = "tokenizer.json"
SLOW_FILES = ("vocab.json", "merges.txt")
JSON_FILES = ("tokenizer.json", "tokenizer_config.json", "added_tokens.json", "special_tokens_map.json")
PROBE_TEXT = "Hello, how are you?"


def _check_files(path: Path, what: str) -> None:
    if (path / FAST_FILE).is_file():
        return
    missing = [n for n in SLOW_FILES if not (path / n).is_file()]
    if missing:
        raise CheckpointError(f"{path}: the {what} tokenizer is missing {FAST_FILE} (or {' + '.join(SLOW_FILES)}: "
                              f"{', '.join(missing)} not found); re-download the checkpoint")


def load_tokenizer(path: Path, what: str, chat: bool = False) -> PreTrainedTokenizerBase:
    """`chat`: the prompt is built with the tokenizer's chat template, so it must have one."""
    if not path.is_dir():
        raise CheckpointError(f"{path} not found: the checkpoint needs its {what} tokenizer there")
    _check_files(path, what)
    for name in JSON_FILES:  # malformed JSON (deep, binary, NaN) gets its own line naming the file
        if (path / name).is_file() and not isinstance(read_json(path / name, finite=False), dict):
            raise CheckpointError(f"{path / name} is not a JSON object; re-download the checkpoint")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False, local_files_only=True)
    except Exception as err:  # noqa: BLE001 - the tokenizers library raises a bare Exception for a bad model
        if allocation_failure(err):
            raise MemoryError(f"not enough memory to load the tokenizer in {path}") from err
        if isinstance(err, PermissionError):
            raise unreadable(path, err) from None
        first = " ".join(str(err).split())[:200]
        raise CheckpointError(f"{path}: the {what} tokenizer cannot be loaded ({type(err).__name__}: {first}); "
                              "re-download the checkpoint") from None
    _probe(tokenizer, path, what)
    if chat and not getattr(tokenizer, "chat_template", None):
        raise CheckpointError(f"{path}: the {what} tokenizer has no chat template (tokenizer_config.json "
                              "'chat_template', or chat_template.jinja); re-download the checkpoint")
    return tokenizer


def _probe(tokenizer: PreTrainedTokenizerBase, path: Path, what: str) -> None:
    try:
        ids = tokenizer.encode(PROBE_TEXT, add_special_tokens=False)
    except Exception as err:  # noqa: BLE001 - any failure here means the files do not make a tokenizer
        if allocation_failure(err):
            raise MemoryError("not enough memory to use the tokenizer") from err
        raise CheckpointError(f"{path}: the {what} tokenizer fails on plain text ({type(err).__name__}: "
                              f"{' '.join(str(err).split())[:160]}); re-download the checkpoint") from None
    if not ids or (tokenizer.unk_token_id is not None and all(i == tokenizer.unk_token_id for i in ids)):
        raise CheckpointError(f"{path}: the {what} tokenizer turns text into no tokens (its vocabulary is empty or "
                              "missing); re-download the checkpoint")
