#!/usr/bin/env bash
# A make-data run on tiny random models (CPU): the figures in docs/data.md come from this script.
#   scripts/data/tiny_run.sh WORKDIR [N_DIALOGUES]
# The LLM, Whisper and speech tokenizer are random, so the text is gibberish and WER is ~1: the run measures the
# pipeline (stages, drops, resumability, output format), not data quality. espeak-ng voices the turns.
set -euo pipefail
WORK=${1:?usage: tiny_run.sh WORKDIR [N]}
N=${2:-60}
PY=${PYTHON:-python}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$WORK"
[ -d "$WORK/tok" ] || "$PY" "$ROOT/main.py" make-tiny-speech-tokenizer "$WORK/tok"
[ -d "$WORK/listeners" ] || "$PY" "$ROOT/main.py" make-tiny-listeners "$WORK/listeners"
[ -d "$WORK/llm" ] || (cd "$ROOT" && "$PY" -c "from models.tiny_lm import make_tiny_causal_lm; make_tiny_causal_lm('$WORK/llm')")
cat > "$WORK/data.yaml" <<YAML
n_dialogues: $N
seed: 1
llm:
  path: llm
  max_field_tokens: 24
  batch_size: 4
speech:
  batch_size: 4
filters:
  asr_checkpoint: listeners/asr
  max_wer: 100.0           # the random Whisper hears nothing; a real one: 0.3..0.5
  asr_max_new_tokens: 16
  max_duration_s: 12.0
  # emotion check off: the random SER gives one label for everything (a real one: set emotion_checkpoint + map)
units:
  tokenizer: tok
YAML
time "$PY" "$ROOT/main.py" make-data --config "$WORK/data.yaml" --out "$WORK/out"
