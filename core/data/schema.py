"""What the dialogue writer must produce, the prompt asking for it, and the parser that accepts or drops it."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from core.data.seeds import Seed, SeedLists

FIELDS = ("user_text", "user_emotion", "user_style", "assistant_text", "assistant_emotion")
TEXT_FIELDS = ("user_text", "assistant_text")
MIN_WORDS = 2
MAX_WORDS = 80
MIN_LETTER_SHARE = 0.6  # letters among the non-space characters of a text field
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_MARKUP = re.compile(r"<\|?[a-z_/]+\|?>|\{|\}|\\[nt\"]")

SYSTEM_PROMPT = "You write short, natural spoken dialogues for training an empathetic voice assistant."


@dataclass(frozen=True)
class Dialogue:
    user_text: str
    user_emotion: str
    user_style: str
    assistant_text: str
    assistant_emotion: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Rejected:
    """Why a generation was dropped: `reason` is a counter key, `detail` a short human note."""

    reason: str
    detail: str


def user_prompt(seed: Seed, lists: SeedLists) -> str:
    return (
        f"The speaker is {seed.persona} who {seed.situation} and feels {seed.emotion}.\n"
        "Write one thing they say out loud (one to three sentences), then a warm, empathetic spoken reply from the "
        "assistant (one to three sentences, no lists, no emojis).\n"
        "Answer with one JSON object and nothing else, with these keys:\n"
        f'"user_text"; "user_emotion" (one of: {", ".join(lists.emotions)}); '
        f'"user_style" (one of: {", ".join(lists.styles)}); "assistant_text"; '
        f'"assistant_emotion" (one of: {", ".join(lists.reply_emotions)}).'
    )


def chat_messages(seed: Seed, lists: SeedLists) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_prompt(seed, lists)}]


def parse_generation(text: str, lists: SeedLists) -> Dialogue | Rejected:
    """The first JSON object in `text` checked against the schema and label sets; never raises."""
    obj = _first_json_object(text)
    if obj is None:
        return Rejected("parse:no_json", _clip(text))
    missing = [k for k in FIELDS if not isinstance(obj.get(k), str) or not obj[k].strip()]
    if missing:
        return Rejected("parse:missing_field", f"{missing[0]} missing or not a string")
    labels = {"user_emotion": lists.emotions, "user_style": lists.styles, "assistant_emotion": lists.reply_emotions}
    values = {}
    for key, allowed in labels.items():
        value = _match_label(obj[key], allowed)
        if value is None:
            return Rejected("parse:bad_label", f"{key}={_clip(obj[key])}")
        values[key] = value
    for key in TEXT_FIELDS:
        problem = text_problem(obj[key])
        if problem:
            return Rejected("parse:bad_text", f"{key}: {problem}")
        values[key] = " ".join(obj[key].split())
    return Dialogue(**{k: values[k] for k in FIELDS})


def text_problem(text: str) -> str | None:
    """Why `text` is not a speakable turn, or None."""
    flat = " ".join(text.split())
    if _MARKUP.search(flat):
        return "markup or escapes"
    if "\ufffd" in flat or any(not c.isprintable() for c in flat):
        return "unprintable characters"
    words = _WORD.findall(flat)
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return f"{len(words)} words (need {MIN_WORDS}..{MAX_WORDS})"
    chars = [c for c in flat if not c.isspace()]
    letters = sum(c.isalpha() for c in chars)
    if letters < MIN_LETTER_SHARE * len(chars):
        return "mostly not letters"
    return None


def _match_label(value: str, allowed: tuple[str, ...]) -> str | None:
    wanted = value.strip().lower()
    return next((a for a in allowed if a.lower() == wanted), None)


def _first_json_object(text: str) -> dict | None:
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            return obj
        start = text.find("{", start + 1)
    return None


def _clip(text: str, n: int = 60) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= n else flat[: n - 3] + "..."
