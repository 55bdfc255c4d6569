"""The "auto" vocoder schedule: measure this machine's vocoder and LM speed after load, then plan the chunk
sizes and the jitter buffer (core.voice.schedule_plan) so a reply plays without a gap."""

from __future__ import annotations

import dataclasses
import logging
import time

from core.lm.events import SpeechUnits
from core.voice.schedule_plan import PlaybackPlan, VocoderSpeed, measure_vocoder_speed, plan_playback

log = logging.getLogger(__name__)

MEASURE_UNITS = 24
# the LM and the vocoder share the cores during a reply: both are planned this much slower. Measured 1.06-1.11
# on 2 cores (small preset + tiny decoder, each loop on its own core); the rest is room for the listeners, which
# transcribe the user's turn while the reply starts, and for the GIL.
CONTENTION = 1.3


def measure_lm_units_per_s(runner) -> float:
    """Units/s of a short greedy reply after its first unit (prefill excluded)."""
    from core.engine.warmup import warmup_clip
    from core.lm.conversation import Conversation
    from core.lm.sampling import SamplingConfig

    conv = Conversation()
    conv.add_user_audio(warmup_clip())
    sampling = SamplingConfig(greedy=True, max_text_tokens=MEASURE_UNITS, max_units=MEASURE_UNITS)
    first_t, n = None, 0
    for ev in runner.reply(conv, sampling):
        if isinstance(ev, SpeechUnits) and ev.units:
            if first_t is None:
                first_t = time.perf_counter()
            else:
                n += len(ev.units)
    if runner.prompt_cache is not None:
        runner.prompt_cache.clear()
    if first_t is None or n == 0:
        return 25.0  # no units (a random model may stop at once): assume twice real time
    return n / max(time.perf_counter() - first_t, 1e-6)


def auto_plan(runner, vocoder, seed: int = 0) -> PlaybackPlan:
    """The plan for this machine; its streams are seeded with `seed`."""
    speed = measure_vocoder_speed(vocoder)
    slowed = VocoderSpeed(speed.fixed_s * CONTENTION, speed.per_unit_s * CONTENTION)
    plan = plan_playback(slowed, measure_lm_units_per_s(runner) / CONTENTION)
    log.info("auto schedule: %s, prebuffer %.0f ms", plan.schedule.chunk_units, plan.prebuffer_ms)
    return dataclasses.replace(plan, seed=seed)
