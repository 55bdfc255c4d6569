"""make-data configs (and the seeds file they name): every bad one ends in one line naming the key or the file, fast.

The base config names existing (empty) folders for llm.path and units.tokenizer, so a case gets as far as its fault.
"""

from __future__ import annotations

import os

from testing.fuzz import Case

FAST_S = 20.0  # cases that used to hang or allocate for minutes


def _base(kit, extra: str = "", llm: str = "") -> str:
    """A valid config (empty folders for the models) plus `extra` lines, and `llm` lines in its llm section."""
    for name in ("llm", "tok"):
        (kit.folder / name).mkdir(exist_ok=True)
    return f"llm:\n{llm}  path: {kit.folder / 'llm'}\nunits:\n  tokenizer: {kit.folder / 'tok'}\n{extra}"


def _config(text: str | bytes, name: str = "c.yaml", out: str = "out", llm: str = ""):
    """A case that writes `text` (a str may hold {base}, the valid config) as the config and runs make-data into
    `out`; `llm` lines go into the base's llm section."""

    def make(kit) -> list[str]:
        content = text.replace("{base}", _base(kit, llm=llm)) if isinstance(text, str) else text
        path = kit.write(name, content)
        return ["make-data", "--config", str(path), "--out", str(kit.folder / out), "--inline", "--no-progress"]

    return make


def _seeds(target) -> callable:
    """A config whose seeds_file is `target(kit)`."""

    def make(kit) -> list[str]:
        path = kit.write("c.yaml", _base(kit, extra=f"seeds_file: {target(kit)}\n"))
        return ["make-data", "--config", str(path), "--out", str(kit.folder / "out"), "--inline", "--no-progress"]

    return make


def _fifo(kit) -> str:
    path = kit.folder / "fifo"
    os.mkfifo(path)
    return str(path)


def _laughs(indent: str = "", item: str = "l{i}: ") -> str:
    """The "billion laughs" shape: nine levels of aliases, each a list of ten of the level below (10**9 strings
    if expanded)."""
    lines = [f'{indent}{item.format(i=0)}&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"{indent}{item.format(i=i)}&l{i} [{', '.join([f'*l{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def _out_is(where: str):
    def make(kit) -> list[str]:
        path = kit.write("c.yaml", _base(kit))
        out = {"config": path, "llm": kit.folder / "llm", "inside-llm": kit.folder / "llm" / "out",
               "config-folder": kit.folder}[where]
        return ["make-data", "--config", str(path), "--out", str(out), "--inline", "--no-progress"]

    return make


def _out_a_file(kit) -> list[str]:
    path = kit.write("c.yaml", _base(kit))
    (kit.folder / "sub").mkdir()
    out = kit.write("sub/out.txt", "my notes\n")
    return ["make-data", "--config", str(path), "--out", str(out), "--inline", "--no-progress"]


AREA = "make-data YAML"
DEEP = "a: " + "[" * 100_000 + "]" * 100_000 + "\n"

CASES = [
    Case(AREA, "nested 100000 lists deep", _config("{base}" + DEEP), says=("nested",), timeout_s=FAST_S),
    Case(AREA, "nested 100000 mappings deep", _config("{base}" + "a: {" * 20_000 + "}" * 20_000 + "\n"),
         says=("nested",), timeout_s=FAST_S),
    Case(AREA, "JSON nested 100000 deep", _config("[" * 100_000 + "]" * 100_000, name="c.json"),
         says=("nested",), timeout_s=FAST_S),
    Case(AREA, "binary (not UTF-8)", _config(bytes(range(256)) * 64), says=("UTF-8",)),
    Case(AREA, "NUL characters", _config("{base}\x00\x00\n"), says=("c.yaml",)),
    Case(AREA, "billion laughs aliases", _config("{base}" + _laughs()), says=("unknown key",), timeout_s=FAST_S),
    Case(AREA, "billion laughs in a list key",
         _config("{base}speech:\n  user_voices:\n" + _laughs(indent="    ", item="- ")),
         says=("speech.user_voices",), timeout_s=FAST_S),
    Case(AREA, "n_dialogues 10**30", _config("{base}n_dialogues: 1000000000000000000000000000000\n"),
         says=("n_dialogues",), timeout_s=FAST_S),
    Case(AREA, "n_dialogues 2 million", _config("{base}n_dialogues: 2000000\n"), says=("n_dialogues",),
         timeout_s=FAST_S),
    Case(AREA, "n_dialogues 1e30 (a string in YAML)", _config("{base}n_dialogues: 1e30\n"), says=("n_dialogues",),
         timeout_s=FAST_S),
    Case(AREA, "n_dialogues 1.0e+30 (a float)", _config("{base}n_dialogues: 1.0e+30\n"), says=("n_dialogues",),
         timeout_s=FAST_S),
    Case(AREA, "n_dialogues .inf", _config("{base}n_dialogues: .inf\n"), says=("n_dialogues",)),
    Case(AREA, "seed with 5000 digits", _config("{base}seed: " + "9" * 5000 + "\n"), says=("c.yaml", "too long")),
    Case(AREA, "seed 2**64", _config("{base}seed: 18446744073709551616\n"), says=("seed",)),
    Case(AREA, "seed -1", _config("{base}seed: -1\n"), says=("seed",)),
    Case(AREA, "llm.batch_size 10**9", _config("{base}", llm="  batch_size: 1000000000\n"),
         says=("llm.batch_size",)),
    Case(AREA, "llm.max_new_tokens 10**12",
         _config("{base}", llm="  max_new_tokens: 1000000000000\n"),
         says=("llm.max_new_tokens",)),
    Case(AREA, "speech.batch_size 10**9", _config("{base}speech:\n  batch_size: 1000000000\n"),
         says=("speech.batch_size",)),
    Case(AREA, "run.llm_actors 10**6", _config("{base}run:\n  llm_actors: 1000000\n"), says=("run.llm_actors",)),
    Case(AREA, "run.cpus_per_actor .inf", _config("{base}run:\n  cpus_per_actor: .inf\n"),
         says=("run.cpus_per_actor",)),
    Case(AREA, "llm.temperature .nan", _config("{base}", llm="  temperature: .nan\n"),
         says=("llm.temperature",)),
    Case(AREA, "llm.temperature 1e6", _config("{base}", llm="  temperature: 1.0e+6\n"),
         says=("llm.temperature",)),
    Case(AREA, "llm.top_p .nan", _config("{base}", llm="  top_p: .nan\n"), says=("llm.top_p",)),
    Case(AREA, "llm.repetition_penalty .nan",
         _config("{base}", llm="  repetition_penalty: .nan\n"),
         says=("llm.repetition_penalty",)),
    Case(AREA, "filters.max_wer .nan", _config("{base}filters:\n  max_wer: .nan\n"), says=("filters.max_wer",)),
    Case(AREA, "filters.max_wer .inf", _config("{base}filters:\n  max_wer: .inf\n"), says=("filters.max_wer",)),
    Case(AREA, "filters.max_wer -.inf", _config("{base}filters:\n  max_wer: -.inf\n"), says=("filters.max_wer",)),
    Case(AREA, "filters.silence_dbfs .nan", _config("{base}filters:\n  silence_dbfs: .nan\n"),
         says=("filters.silence_dbfs",)),
    Case(AREA, "filters.max_duration_s .inf", _config("{base}filters:\n  max_duration_s: .inf\n"),
         says=("filters.max_duration_s",)),
    Case(AREA, "filters.min_duration_s .nan", _config("{base}filters:\n  min_duration_s: .nan\n"),
         says=("filters.min_duration_s",)),
    Case(AREA, "JSON NaN and Infinity", _config('{"llm": {"path": "x", "temperature": NaN}, "units": {}}',
                                               name="c.json"), says=("llm.temperature",)),
    Case(AREA, "n_dialogues a string", _config("{base}n_dialogues: many\n"), says=("n_dialogues",)),
    Case(AREA, "n_dialogues a list", _config("{base}n_dialogues: [1, 2]\n"), says=("n_dialogues",)),
    Case(AREA, "n_dialogues true", _config("{base}n_dialogues: true\n"), says=("n_dialogues",)),
    Case(AREA, "filters.max_wer a string", _config("{base}filters:\n  max_wer: '0.5'\n"), says=("filters.max_wer",)),
    Case(AREA, "seed a date", _config("{base}seed: 2020-01-01\n"), says=("seed",)),
    Case(AREA, "an impossible date", _config("{base}seed: 2020-13-45\n"), says=("c.yaml",)),
    Case(AREA, "llm a list", _config("llm: [1, 2]\nunits:\n  tokenizer: x\n"), says=("llm",)),
    Case(AREA, "speech a string", _config("{base}speech: loud\n"), says=("speech",)),
    Case(AREA, "speech.user_voices a number", _config("{base}speech:\n  user_voices: 5\n"),
         says=("speech.user_voices",)),
    Case(AREA, "unknown key", _config("{base}n_dialogs: 5\n"), says=("n_dialogs",)),
    Case(AREA, "unknown nested key", _config("{base}", llm="  tempreature: 0.5\n"),
         says=("llm.tempreature",)),
    Case(AREA, "top level a list", _config("- a\n- b\n"), says=("mapping",)),
    Case(AREA, "top level a number", _config("42\n"), says=("mapping",)),
    Case(AREA, "empty file", _config(""), says=("llm",)),
    Case(AREA, "llm section missing", _config("units:\n  tokenizer: x\n"), says=("llm",)),
    Case(AREA, "llm.path not a folder", _config("llm:\n  path: no/such/llm\nunits:\n  tokenizer: x\n"),
         says=("llm.path",)),
    Case(AREA, "YAML syntax error", _config("{base}llm2: [\n"), says=("c.yaml", "line")),
    Case(AREA, "python tag", _config("{base}n_dialogues: !!python/object/apply:os.system ['echo hi']\n"),
         says=("c.yaml",)),
    Case(AREA, "over 1 MB", _config("{base}# " + "x" * (1024 * 1024 + 10) + "\n"), says=("too large",)),
    Case(AREA, "config is /dev/zero", lambda kit: ["make-data", "--config", "/dev/zero", "--out",
                                                   str(kit.folder / "out"), "--inline"],
         says=("/dev/zero",), timeout_s=FAST_S),
    Case(AREA, "config is a folder", lambda kit: ["make-data", "--config", str(kit.folder), "--out",
                                                  str(kit.folder / "out"), "--inline"], says=("folder",)),
    Case(AREA, "config is a FIFO", lambda kit: ["make-data", "--config", _fifo(kit), "--out",
                                                str(kit.folder / "out"), "--inline"],
         says=("fifo",), timeout_s=FAST_S),
    Case(AREA, "seeds file /dev/zero", _seeds(lambda kit: "/dev/zero"), says=("/dev/zero",), timeout_s=FAST_S),
    Case(AREA, "seeds file a FIFO", _seeds(_fifo), says=("fifo",), timeout_s=FAST_S),
    Case(AREA, "seeds file a folder", _seeds(lambda kit: kit.folder / "llm"), says=("folder",)),
    Case(AREA, "seeds file binary", _seeds(lambda kit: kit.write("s.yaml", b"\xff\xfe\x00garbage" * 100)),
         says=("s.yaml", "UTF-8")),
    Case(AREA, "seeds file deeply nested", _seeds(lambda kit: kit.write("s.yaml", DEEP)), says=("s.yaml", "nested"),
         timeout_s=FAST_S),
    Case(AREA, "seeds file a list of numbers",
         _seeds(lambda kit: kit.write("s.yaml", "situations: [1]\nemotions: [a]\npersonas: [p]\nstyles: [s]\n"
                                               "reply_emotions: [r]\n")), says=("situations",)),
    Case(AREA, "--out is the config file", _out_is("config"), says=("--config",)),
    Case(AREA, "--out is llm.path", _out_is("llm"), says=("llm.path",)),
    Case(AREA, "--out inside llm.path", _out_is("inside-llm"), says=("llm.path",)),
    Case(AREA, "--out holds the config", _out_is("config-folder"), says=("--config",)),
    Case(AREA, "--out is a file", _out_a_file, says=("is a file",)),
]
