"""The child process of tests/audio/test_pulse_reply_gaps.py: one spoken turn and its reply, measured in a fresh
interpreter against the test's PulseAudio server (its environment is set before PortAudio initialises).

    python -m tests.audio.reply_gaps_probe RUNTIME_DIR WAV WORK_DIR OUT_JSON

Writes {"rec": the speaker sink's recording (float32 raw), "played_s", "generated_s", "underruns", "error",
"plan": the playback plan} to OUT_JSON."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def one_reply(companion, paths: dict, pulse_server, wav: Path, rec_path: Path):
    """One spoken turn and its reply with the listeners on: its ReplyEnded; the sink is recorded into rec_path."""
    from core.listeners.bridge import ListenerBridge
    from core.listeners.config import ListenersConfig
    from core.listeners.events import ListenerStatus
    from core.listeners.manager import Listeners
    from tests.audio.test_pulse import speak_and_record
    from tests.engine_fakes import Collector

    ready: set[str] = set()
    listeners = Listeners(ListenersConfig(asr_checkpoint=str(paths["asr"]), ser_checkpoint=str(paths["ser"]),
                                          text_emotion_checkpoint=str(paths["text_emotion"])),
                          lambda ev: isinstance(ev, ListenerStatus) and ev.enabled and ready.add(ev.name))
    bridge, events = ListenerBridge(lambda: listeners), Collector()
    deadline = time.monotonic() + 60
    while len(ready) < 3 and time.monotonic() < deadline:  # a user speaks after the app is ready, not during the
        time.sleep(0.05)  # listeners' first load (its imports took the CPU from the first reply: 318 ms gaps)

    def sink(ev):
        bridge.on_event(ev)
        events(ev)

    eng = companion.engine(sink=sink)
    try:
        return speak_and_record(pulse_server, eng, events, wav, rec_path, 120)
    finally:
        listeners.close()


def main(argv: list[str]) -> int:
    runtime_dir, wav, work, out = (Path(a) for a in argv)
    from testing.pulse_server import PulseServer

    server = PulseServer(runtime_dir)  # not started here: its environment and client helpers only
    os.environ.update(XDG_RUNTIME_DIR=server.env["XDG_RUNTIME_DIR"], PULSE_SERVER=server.env["PULSE_SERVER"])
    from app.assembly import build
    from app.config import CompanionConfig, ModelSource
    from core.lm.sampling import SamplingConfig
    from models.listeners.tiny import write_tiny_listeners
    from models.tiny_checkpoint import TinySpec, make_tiny_checkpoint
    from models.tiny_decoder import make_tiny_decoder

    # the app's defaults (warm-up, the "auto" schedule planned here) through the app's assembly; the VAD's silence
    # ends the turn (no Smart Turn model: this test is about playback)
    model = ModelSource(str(make_tiny_checkpoint(work / "ckpt", TinySpec.small())),
                        str(make_tiny_decoder(work / "dec", seed=0, size="tiny")))
    companion = build(CompanionConfig(model=model, sampling=SamplingConfig(seed=0, max_text_tokens=40, max_units=80)),
                      end_of_turn=False, download=False)
    paths = write_tiny_listeners(work / "listeners")
    rec = work / "monitor.raw"
    end = one_reply(companion, paths, server, wav, rec)
    plan = {"schedule": list(companion.playback.schedule.chunk_units), "prebuffer_ms": companion.playback.prebuffer_ms}
    out.write_text(json.dumps({"rec": str(rec), "played_s": end.played_s, "generated_s": end.generated_s,
                               "underruns": end.underruns, "error": end.error, "plan": plan}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
