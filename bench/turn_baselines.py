"""The turn stage's operating points the suite compares: "before" (the settings the app shipped before issue 32,
written out here so it stays "before" whatever the defaults become) and "after" (the app's defaults, taken from
the app: `app.config.CompanionConfig()`, its turn stage through `app.assembly.turn_stage`; never written here).

    from bench.turn_baselines import operating_points
    points = operating_points()          # {"before": CompanionConfig, "after": CompanionConfig}
"""

from __future__ import annotations

import dataclasses

from app.config import CompanionConfig
from core.turns.config import EndOfTurnConfig, VadConfig

# The semantic end of turn as shipped before issue 32 (main at 7429533): Smart Turn v3 asked at 160 ms of silence
# then every 96 ms; the mean of its probabilities over the pause maps to the silence the turn needs (160 ms at
# >= 0.8, 1500 ms at <= 0.3, linear between); the speculative reply starts at 96 ms. Fields added later keep
# their defaults; with policy "mean" they are not read.
BEFORE_ISSUE_32 = EndOfTurnConfig(
    semantic=True,
    smart_turn_model=None,  # the Smart Turn file inside the pipecat-ai wheel
    policy="mean",
    first_check_ms=160.0,
    speculate_at_ms=96.0,
    check_every_ms=96.0,
    commit_prob=0.8,
    hold_prob=0.3,
    max_silence_ms=1500.0,
    text_weight=0.5,
    rejoin_ms=2000.0,
)
# The VAD as shipped before issue 32.
BEFORE_ISSUE_32_VAD = VadConfig(
    start_threshold=0.5,
    stop_threshold=0.35,
    pre_roll_ms=300.0,
    min_speech_ms=250.0,
    end_silence_ms=700.0,
    max_turn_ms=30000.0,
    speculate_after_ms=250.0,
)


def app_config() -> CompanionConfig:
    """The "after" point: the app's defaults, as `converse` and `main.py turns` start from them (no flags, no
    settings file)."""
    return CompanionConfig()


def before(config: CompanionConfig) -> CompanionConfig:
    """`config` with the turn stage's VAD and end of turn as before issue 32; the duplex mode (`duplex`) and
    everything else stay `config`'s, so the two points differ in the end-of-turn settings alone."""
    engine = dataclasses.replace(config.engine, vad=BEFORE_ISSUE_32_VAD, end_of_turn=BEFORE_ISSUE_32)
    return dataclasses.replace(config, engine=engine)


def operating_points() -> dict[str, CompanionConfig]:
    """{"before": the pre-issue-32 turn stage, "after": the app's defaults} on the same CompanionConfig."""
    after = app_config()
    return {"before": before(after), "after": after}
