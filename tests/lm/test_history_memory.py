"""A long conversation does not hold its users' audio in memory: answered turns' samples live in a temporary file
(core.lm.clip_spool), read back only when the prompt cache cannot be reused, bit for bit."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

from core.lm.clip_spool import ClipSpool
from core.lm.conversation import Conversation
from core.lm.sampling import SamplingConfig
from tests.helpers import synthetic_clip

CFG = SamplingConfig(greedy=True, max_text_tokens=6, max_units=8)


def _talk(conv: Conversation, n_turns: int, clip_s: float = 2.0) -> list[np.ndarray]:
    clips = []
    for i in range(n_turns):
        clip = synthetic_clip(clip_s, seed=i)
        clips.append(clip)
        conv.add_user_audio(clip)
        conv.add_assistant(f"reply {i}")
    return clips


def test_memory_held_by_history_audio_stays_flat_over_many_turns():
    """60 two-second turns (7.7 MB of samples): the history holds at most about one clip in memory."""
    gc.collect()
    tracemalloc.start()
    try:
        conv = Conversation()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(60):
            conv.add_user_audio(synthetic_clip(2.0, seed=i))
            conv.add_assistant(f"reply {i}")
        gc.collect()  # once: a spilled clip is freed by its refcount; a collection per turn cost ~0.3 s each
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    one_clip = 2 * 16000 * 4
    assert held < 3 * one_clip, f"the history holds {held / 2**20:.1f} MB after 60 turns"
    assert len(conv.turns) == 120 and conv.n_audio_turns == 60


def test_spilled_audio_reads_back_bit_exact_and_only_the_newest_clip_stays_in_memory():
    conv = Conversation()
    clips = _talk(conv, 5)
    last = synthetic_clip(1.0, seed=99)
    conv.add_user_audio(last)
    audio_turns = [t for t in conv.turns if t.has_audio]
    assert [t.audio_in_memory is None for t in audio_turns] == [True] * 5 + [False]
    for turn, clip in zip(audio_turns, [*clips, last], strict=True):
        np.testing.assert_array_equal(turn.audio, clip)
        assert turn.n_samples == clip.size
    assert conv.spool.nbytes == sum(c.nbytes for c in clips)
    conv.clear()  # a new conversation: a new file; the old one goes with its last turn
    assert conv.spool.nbytes == 0 and not conv.turns


def test_a_spool_that_cannot_write_keeps_the_audio_in_memory(tmp_path):
    conv = Conversation()
    conv.spool = ClipSpool(directory=str(tmp_path / "missing"))  # the temporary folder is gone
    clips = _talk(conv, 3)
    audio_turns = [t for t in conv.turns if t.has_audio]
    assert all(t.audio_in_memory is not None for t in audio_turns)
    for turn, clip in zip(audio_turns, clips, strict=True):
        np.testing.assert_array_equal(turn.audio, clip)


def test_replies_from_spilled_history_equal_replies_from_memory(tiny_checkpoint):
    """A runner with no prompt cache re-encodes every clip each turn: from the spool for the answered turns. Its
    reply equals one computed on the same history kept wholly in memory."""
    from core.lm.runner import OpenS2SRunner

    runner = OpenS2SRunner.load(tiny_checkpoint, device="cpu", dtype="float64", reuse_prefix=False)
    spilled, in_memory = Conversation(), Conversation()
    in_memory.spool = ClipSpool(directory="/nonexistent-folder")  # refuses: everything stays in memory
    for conv in (spilled, in_memory):
        _talk(conv, 3, clip_s=0.8)
        conv.add_user_text("and then?")
    assert sum(t.audio_in_memory is None for t in spilled.turns if t.has_audio) == 3
    assert all(t.audio_in_memory is not None for t in in_memory.turns if t.has_audio)
    ids = []
    for conv in (spilled, in_memory):
        events = list(runner.reply(conv, CFG))
        ids.append([t for e in events for t in getattr(e, "token_ids", ())])
    assert ids[0] == ids[1] and ids[0]
