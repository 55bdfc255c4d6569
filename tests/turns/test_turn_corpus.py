"""The turn corpus generator (testing/turn_corpus), on its --small size: two builds are identical, the splits share
no sentence and no voice, the ground-truth times match the clean audio (the pause is 600-1000 ms of silence, speech
ends where the manifest says), the noise goes on through the pauses and after the speech, the manifest is written
last and a rebuild reuses the clips it finds."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import soundfile as sf

from models.errors import UserError
from testing.turn_corpus import __main__ as cli
from testing.turn_corpus import build, load_corpus, read_manifest, synth
from testing.turn_corpus.sentences import COMPLETE_KINDS, PAUSED_KINDS, SENTENCES
from testing.turn_corpus.voices import ESPEAK, FLITE, VOICES

RATE = synth.RATE_HZ
FIELDS = ["id", "split", "synth", "voice", "rate_wpm", "pitch", "flite_stretch", "kind", "sentence_kind", "text",
          "parts", "file", "duration_s", "speech_start_s", "speech_end_s", "pauses_s", "noise"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The small corpus built twice: through the cache root ($OPENS2S_TURN_CORPUS_DIR) by 2 worker processes, and
    into a given folder in this process (the number of workers changes nothing)."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(build.ENV_DIR, str(root))
        clips = load_corpus(small=True)
        first = build.default_folder(small=True)
    second = build.build_corpus(tmp_path_factory.mktemp("again") / "corpus", small=True, workers=1)
    return root, first, second, clips


@pytest.fixture(scope="module")
def specs():
    return {s.id: s for s in build.plan(build.sizes_for(small=True))}


def _digest(path):
    """sha256 of the decoded samples (the float WAV's PEAK chunk holds the time of writing, so bytes differ)."""
    x, rate = sf.read(str(path), dtype="float32")
    return hashlib.sha256(x.tobytes() + str(rate).encode()).hexdigest()


def test_the_cache_folder_sits_under_the_env_root_and_is_named_by_the_settings_key(built):
    root, first, _, clips = built
    assert first.parent == root and first.name == build.corpus_key(build.sizes_for(small=True))[0]
    assert build.corpus_key(build.sizes_for(small=True))[0] != build.corpus_key(build.sizes_for(small=False))[0]
    assert len(clips) == 8 * 8 and all(c.folder == first for c in clips)


def test_two_builds_give_identical_manifests_and_audio(built):
    _, first, second, clips = built
    assert (first / "manifest.jsonl").read_text() == (second / "manifest.jsonl").read_text()
    for c in clips:
        assert _digest(first / c.file) == _digest(second / c.file), c.id


def test_manifest_rows_have_the_contract_fields_and_16khz_mono_float32(built):
    _, first, _, clips = built
    rows = [json.loads(line) for line in (first / "manifest.jsonl").read_text().splitlines()]
    assert all(list(r) == FIELDS for r in rows)
    x = clips[0].samples()
    assert x.dtype == np.float32 and x.ndim == 1 and abs(x.size / RATE - clips[0].duration_s) < 1e-3
    for c in clips:
        assert (c.synth == ESPEAK) == (c.rate_wpm is not None) == (c.flite_stretch is None)
        assert (c.kind == "paused") == (len(c.parts) == 2) == (len(c.pauses_s) == 1)
        assert c.text == " ".join(c.parts)


def test_splits_share_no_sentence_and_no_voice_and_both_have_every_kind():
    texts = {split: {s.text for s in SENTENCES if s.split == split} for split in ("train", "heldout")}
    assert not texts["train"] & texts["heldout"]
    for split in ("train", "heldout"):
        assert {s.kind for s in SENTENCES if s.split == split} == set(COMPLETE_KINDS + PAUSED_KINDS)
        assert len([s for s in SENTENCES if s.split == split and not s.paused]) >= 48
        assert len([s for s in SENTENCES if s.split == split and s.paused]) >= 48
    for name in (ESPEAK, FLITE):
        names = {split: {v.name for v in VOICES if v.synth == name and v.split == split} for split in texts}
        assert names["train"] and names["heldout"] and not names["train"] & names["heldout"]
    espeak = {split: [v.name.split("+") for v in VOICES if v.synth == ESPEAK and v.split == split] for split in texts}
    for part in (0, 1):  # languages and variants both differ
        assert not {v[part] for v in espeak["train"]} & {v[part] for v in espeak["heldout"]}
    assert not any(v.name.startswith("mb") or "mb-" in v.name for v in VOICES)


def test_the_default_plan_uses_every_sentence_and_voice_of_each_split():
    specs = build.plan(build.DEFAULT_SIZES)
    for (name, split), (n_complete, n_paused) in build.DEFAULT_SIZES.items():
        cell = [s for s in specs if s.synth == name and s.split == split]
        assert sum(not s.sentence.paused for s in cell) == n_complete
        assert sum(s.sentence.paused for s in cell) == n_paused
        assert {s.sentence for s in cell} == {s for s in SENTENCES if s.split == split}
        assert {s.voice for s in cell} == {v.name for v in VOICES if v.synth == name and v.split == split}
        assert all(s.sentence.split == split for s in cell)
    share = sum(s.noise is not None for s in specs) / len(specs)
    assert 0.25 < share < 0.42
    assert {s.noise["kind"] for s in specs if s.noise} == {"white", "pink", "brown", "hum"}
    assert all(600 <= s.pause_ms <= 1000 for s in specs if s.pause_ms is not None)
    assert all(0.3 <= s.lead_s <= 0.6 for s in specs)


def test_clean_clips_are_silent_outside_speech_and_in_the_pause(built):
    """Noise-free clips are the clean signal: speech starts and ends where the manifest says, and the pause
    (600-1000 ms) is silence bounded by speech."""
    clean = [c for c in built[3] if c.noise is None]
    assert len(clean) > 20 and {c.synth for c in clean if c.kind == "paused"} == {ESPEAK, FLITE}
    for c in clean:
        x = c.samples()
        loud = np.flatnonzero(np.abs(x) >= synth.FLOOR)
        assert loud[0] == round(c.speech_start_s * RATE), c.id
        assert loud[-1] + 1 == round(c.speech_end_s * RATE), c.id
        assert abs(c.duration_s - c.speech_end_s - build.TAIL_S) < 1e-3
        for start_s, end_s in c.pauses_s:
            a, b = round(start_s * RATE), round(end_s * RATE)
            assert 0.6 - 1e-3 <= end_s - start_s <= 1.0 + 1e-3, c.id
            assert c.speech_start_s < start_s < end_s < c.speech_end_s
            assert np.abs(x[a:b]).max() < synth.FLOOR and abs(x[a - 1]) >= synth.FLOOR <= abs(x[b]), c.id


def test_noise_goes_on_through_the_pause_and_after_speech_at_its_snr(built, specs):
    noisy = [c for c in built[3] if c.noise is not None]
    assert len(noisy) > 8
    for c in noisy:
        speech, pauses = build.clean_speech(specs[c.id])  # the clean signal, made again
        x = c.samples()
        start, end = round(c.speech_start_s * RATE), round(c.speech_end_s * RATE)
        assert end - start == speech.size
        voiced = np.ones(speech.size, bool)
        for a, b in pauses:
            voiced[a:b] = False
        want = np.sqrt(np.mean(speech[voiced].astype(np.float64) ** 2)) / 10 ** (c.noise["snr_db"] / 20)
        noise = x.astype(np.float64).copy()
        noise[start:end] -= speech
        assert np.sqrt(np.mean(noise ** 2)) == pytest.approx(want, rel=0.05), c.id
        after = x[end:]
        assert after.size == int(build.TAIL_S * RATE)
        # brown noise and hum wander over short stretches: each stretch holds noise of about the clip's level
        stretches = [x[:start], after] + [x[round(a * RATE):round(b * RATE)] for a, b in c.pauses_s]
        for part in stretches:
            assert want / 3 < np.sqrt(np.mean(part.astype(np.float64) ** 2)) < want * 3, c.id


def test_a_crash_leaves_no_manifest_and_the_rebuild_reuses_the_clips(tmp_path, monkeypatch):
    sizes = {cell: (1, 1) for cell in build.DEFAULT_SIZES}
    folder = tmp_path / "corpus"
    made = []
    real = build.clean_speech

    def failing(spec):
        if len(made) == 5:
            raise RuntimeError("synthesizer died")
        made.append(spec.id)
        return real(spec)

    monkeypatch.setattr(build, "clean_speech", failing)
    with pytest.raises(RuntimeError, match="synthesizer died"):
        build.build_corpus(folder, sizes=sizes, workers=1)
    assert not (folder / "manifest.jsonl").exists()
    stamps = {p.name: p.stat().st_mtime_ns for p in (folder / "clips").iterdir()}
    assert len(stamps) == 2 * 5  # wav + json of each finished clip
    made.clear()
    monkeypatch.setattr(build, "clean_speech", real)
    remade = []
    monkeypatch.setattr(build, "clean_speech", lambda spec: remade.append(spec.id) or real(spec))
    build.build_corpus(folder, sizes=sizes, workers=1)
    assert len(remade) == 8 - 5  # only the missing clips were synthesized
    assert all((folder / "clips" / name).stat().st_mtime_ns == t for name, t in stamps.items())
    clips = read_manifest(folder)
    assert len(clips) == 8
    manifest_time = (folder / "manifest.jsonl").stat().st_mtime_ns
    assert all(p.stat().st_mtime_ns <= manifest_time for p in (folder / "clips").iterdir())


def test_a_folder_made_with_other_settings_is_refused(tmp_path):
    folder = build.build_corpus(tmp_path / "c", sizes={cell: (1, 0) for cell in build.DEFAULT_SIZES}, workers=1)
    with pytest.raises(UserError, match="other settings"):
        build.build_corpus(folder, sizes={cell: (0, 1) for cell in build.DEFAULT_SIZES}, workers=1)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        build.build_corpus(tmp_path / "other", sizes={cell: (1, 0) for cell in build.DEFAULT_SIZES}, workers=1)


def test_the_command_prints_the_folder_and_the_counts(built, capsys):
    _, first, _, _ = built
    assert cli.main(["build", "--small", "--out", str(first)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == str(first)
    assert "  train    espeak-ng  paused    8" in out and "  heldout  flite      complete  8" in out
