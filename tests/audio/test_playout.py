"""Jitter buffer, resampler/chunker and device errors through a fake sounddevice backend."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio.devices import FrameChunker, MicCapture, Resampler, SpeakerOutput
from core.audio.playout import PlayoutBuffer
from models.errors import DeviceError
from tests.engine_fakes import FakeAudio


def pull(buf: PlayoutBuffer, n: int) -> np.ndarray:
    out = np.full(n, 9.0, np.float32)
    buf.fill(out)
    return out


def test_prebuffer_then_play_in_order_then_done():
    buf = PlayoutBuffer(prebuffer_samples=100)
    buf.begin(1)
    buf.write(1, np.arange(1, 61, dtype=np.float32))
    assert not pull(buf, 50).any()  # below prebuffer: silence, nothing consumed
    buf.write(1, np.arange(61, 121, dtype=np.float32))
    assert np.array_equal(pull(buf, 50), np.arange(1, 51))
    buf.end(1)
    out = pull(buf, 100)
    assert np.array_equal(out[:70], np.arange(51, 121)) and not out[70:].any()
    st = buf.stats()
    assert st.played == 120 and st.underruns == 0 and st.done and st.first_play_t is not None


def test_underrun_is_filled_with_silence_and_counted():
    buf = PlayoutBuffer(prebuffer_samples=10)
    buf.begin(1)
    buf.write(1, np.ones(30, np.float32))
    out = pull(buf, 50)
    assert out[:30].all() and not out[30:].any()
    st = buf.stats()
    assert st.underruns == 1 and st.underrun_samples == 20 and not st.done


def test_stop_silences_next_callback_and_ignores_stale_writes():
    buf = PlayoutBuffer(prebuffer_samples=0)
    buf.begin(1)
    buf.write(1, np.ones(1000, np.float32))
    pull(buf, 100)
    assert buf.stop() == 900
    assert not pull(buf, 100).any()
    assert not buf.write(1, np.ones(10, np.float32))  # writer thread still running: ignored
    buf.begin(2)
    assert not buf.write(1, np.ones(10, np.float32))  # old reply id
    assert buf.stats().played == 0 and buf.wait_done(0) is False


def test_resampler_streams_to_the_right_length():
    rs = Resampler(48000, 16000)
    x = np.sin(np.arange(48000) / 10).astype(np.float32)
    y = np.concatenate([rs.process(x[i : i + 960]) for i in range(0, 48000, 960)] + [rs.process(x[:0], last=True)])
    assert abs(y.size - 16000) <= 2
    assert Resampler(16000, 16000).process(x) is not None


def test_chunker_reblocks_exactly():
    ch = FrameChunker(512)
    got = ch.push(np.arange(700, dtype=np.float32)) + ch.push(np.arange(700, 1100, dtype=np.float32))
    assert [f.size for f in got] == [512, 512] and got[1][0] == 512


def test_missing_devices_raise_device_error():
    with pytest.raises(DeviceError, match="input-device"):
        MicCapture(FakeAudio(has_input=False), None, None, 20, 10).open()
    with pytest.raises(DeviceError, match="output-device"):
        SpeakerOutput(FakeAudio(has_output=False), None, None, 20, PlayoutBuffer(0)).open()
    with pytest.raises(DeviceError, match="'nope'"):
        MicCapture(FakeAudio(), "nope", None, 20, 10).open()


def test_refused_rate_raises_device_error_with_the_rate():
    with pytest.raises(DeviceError, match="refused 44100 Hz"):
        MicCapture(FakeAudio(refuse_rates=(44100,)), None, 44100, 20, 10).open()


def test_capture_queue_is_bounded_and_counts_drops():
    cap = MicCapture(FakeAudio(), None, None, 20, 4)
    for _ in range(6):
        cap._callback(np.zeros((960, 1), np.float32), 960, None, 0)
    assert cap.queue.qsize() == 4 and cap.dropped_blocks == 2
