"""`main.py turns --audio FILE --json` on espeak-ng speech: the capture-side detector (silero-vad + Smart Turn,
default settings) in simulated real time. Complete sentences are one turn each, decided after the end of speech
and no later than the longest silence allows; two sentences with a long gap are two turns; a sentence with a
pause inside is reported as one turn (an early commit the speaker talked over is listed, not a new turn)."""

from __future__ import annotations

import json
import subprocess
import sys

import soundfile as sf

from bench import turn_sets
from core.engine.config import EngineConfig

MAX_MS = EngineConfig().end_of_turn.max_silence_ms


def _turns(tmp_path, ssml: str, *flags: str) -> list[dict]:
    path = tmp_path / "speech.wav"
    sf.write(str(path), turn_sets.speak(ssml), turn_sets.RATE_HZ)
    out = subprocess.run([sys.executable, "main.py", "turns", "--audio", str(path), "--json", *flags], check=True,
                         capture_output=True, text=True, timeout=300)
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_two_sentences_with_a_long_gap_are_two_turns(tmp_path):
    first, gap_ms, second = turn_sets.TWO_SENTENCES
    # half duplex: in full duplex a sentence within rejoin_ms of an early commit continues it (docs/turn_taking.md)
    turns = _turns(tmp_path, f"{first} <break time='{gap_ms}ms'/> {second}", "--duplex", "half")
    assert len(turns) == 2
    for t in turns:
        assert t["start_s"] < t["end_s"] < t["decided_s"]
        # decided after the end of speech, within the longest silence plus the model's compute on this machine
        assert 0 < t["decision_ms"] < MAX_MS + 2000
    assert turns[1]["start_s"] - turns[0]["end_s"] > 2.0


def test_paused_sentence_is_one_turn_and_the_vad_alone_splits_it(tmp_path):
    first, _, rest = turn_sets.PAUSED[6]  # "I would like to order" ... 1000 ms ... "a large pizza ..."
    ssml = f"{first} <break time='1000ms'/> {rest}"
    turns = _turns(tmp_path, ssml, "--transcript", "sphinx")  # the pocketsphinx text signal end to end
    assert len(turns) == 1  # continuations after an early commit are merged; the commit itself is listed
    vad_only = _turns(tmp_path, ssml, "--no-semantic")
    assert len(vad_only) == 2 and all(680 < t["decision_ms"] < 900 for t in vad_only)  # 700 ms of silence
