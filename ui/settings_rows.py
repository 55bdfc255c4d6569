"""What the Settings dialog shows: its tabs, and per row the widget attribute, the label, one line of help, and the
`AppSettings` field it sets (a refusal names the field by its label, ui/settings_errors.py)."""

from __future__ import annotations

from core.audio.duplex import DUPLEX_CHOICES, DUPLEX_LABELS

DUPLEX_ITEMS = {choice: DUPLEX_LABELS[choice] for choice in DUPLEX_CHOICES}
INTERRUPTION_LABELS = {"backchannel": "Pause, resume after “mm-hm”", "immediate": "Stop at once"}


GROUPS = ("Audio", "Turn-taking", "Replies", "Model", "Listeners")
# (group, field attribute, label, one-line explanation)
ROWS = (
    ("Audio", "input_device", "Microphone", "Which input to listen to; Automatic = the system default."),
    ("Audio", "output_device", "Speaker", "Where replies play; Automatic = the system default."),
    ("Audio", "duplex", "Microphone while the app speaks",
     "Speakers: the app removes its own voice (echo cancellation), so you can interrupt it. Headphones: nothing "
     "reaches the microphone. Half-duplex: it never hears itself; you wait or press Stop. Automatic: from the "
     "speaker's name."),
    ("Audio", "barge_in", "Speech that pauses a reply (ms)",
     "How long you must speak over a reply before it pauses (when you can interrupt). Longer = fewer pauses "
     "from a cough or the room."),
    ("Turn-taking", "start_threshold", "Speech sensitivity",
     "How sure the detector must be that you started speaking (lower = reacts to quieter speech)."),
    ("Turn-taking", "stop_threshold", "Speech end sensitivity",
     "Below this the detector counts silence; keep it under the sensitivity above."),
    ("Turn-taking", "end_silence", "Pause that ends your turn (ms)",
     "Used only while “Judge whether you finished” is off (or its model is missing); while it is on, the turn "
     "ends between 96 ms and the longest pause below."),
    ("Turn-taking", "speculate", "Start replying early after (ms)",
     "Work on the reply during your pause; it plays only if you stay quiet. 0 = off."),
    ("Turn-taking", "semantic", "Judge whether you finished",
     "Smart Turn listens to how your sentence ends: finished = a short pause ends the turn, unfinished = it waits "
     "longer. Off (or model missing): the pause above."),
    ("Turn-taking", "eot_commit", "Answer when sure you finished ≥",
     "The end-of-turn score that ends your turn. Higher = fewer replies that start before you finished, but a "
     "slower answer."),
    ("Turn-taking", "eot_commit_full", "… when you can interrupt ≥",
     "The same when you can interrupt (not half-duplex): going on speaking stops a reply that started too early, "
     "so the app may answer sooner."),
    ("Turn-taking", "eot_max", "Longest pause inside your turn (ms)",
     "How long the app waits when you seem unfinished."),
    ("Turn-taking", "interruption_row", "When you talk over a reply",
     "Pause: a short “mm-hm”, then silence, lets it go on; longer speech stops it."),
    ("Replies", "prompt", "Personality (system prompt)", "Instructions the model reads before every turn."),
    ("Replies", "temperature", "Creativity (temperature)", "Higher = more varied replies, lower = steadier."),
    ("Replies", "top_p", "Word choice breadth (top-p)", "Only the most likely words adding up to this share."),
    ("Replies", "max_tokens", "Longest reply (tokens)", "Cut replies after this many text tokens."),
    ("Model", "compute", "Compute device", "Where the model runs; auto picks the GPU when there is one. "
     "Applies at the next load."),
    ("Model", "weights", "Memory saving (LM weights)", "int8 needs about half the GPU memory, a little slower; "
     "int4 needs CUDA. Next load."),
    ("Model", "backend", "Speech decoder engine", "torch, or onnx (onnxruntime). Next load."),
    ("Model", "schedule", "Speech start", "auto: chunk sizes and buffer planned from this machine's measured "
     "speed (no gaps); fast: fixed small chunks; smooth: fewer seams. Next load."),
    ("Listeners", "asr", "Transcript", "Writes down what you said (Whisper)."),
    ("Listeners", "ser", "Your emotion", "Guesses your emotion from your voice."),
    ("Listeners", "text_emotion", "Reply emotion", "Guesses the emotion of the reply's text."),
)
LISTENER_FIELDS = {"asr": "asr", "ser": "user_emotion", "text_emotion": "assistant_emotion"}
# the AppSettings field each row sets (its label names the field in a refusal)
SETTING = {
    "input_device": "input_device", "output_device": "output_device", "duplex": "duplex",
    "barge_in": "barge_in_ms", "start_threshold": "vad_start_threshold", "stop_threshold": "vad_stop_threshold",
    "end_silence": "end_silence_ms", "speculate": "speculate_after_ms", "semantic": "semantic_end_of_turn",
    "eot_commit": "eot_commit_score", "eot_commit_full": "eot_full_duplex_commit_score",
    "eot_max": "eot_max_silence_ms", "interruption": "interruption", "backchannel": "backchannel_ms",
    "prompt": "system_prompt", "temperature": "temperature", "top_p": "top_p", "max_tokens": "max_text_tokens",
    "compute": "compute_device", "weights": "weights", "backend": "vocoder_backend", "schedule": "vocoder_schedule",
    "asr": "asr_checkpoint", "ser": "ser_checkpoint", "text_emotion": "text_emotion_checkpoint",
}
ROW_OF = {"interruption": "interruption_row", "backchannel": "interruption_row"}  # widgets inside another row
