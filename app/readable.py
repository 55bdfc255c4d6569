"""Model and listener text as people read it: the one cleaning the window's bubbles, exports and `converse` share.

Random-weight demo models and listeners emit control characters and undecodable bytes (U+FFFD, shown as boxes);
`readable` drops them. A text that had something but nothing readable is shown as NOTHING_READABLE, an empty one
stays empty (`shown_text`). No Qt: ui/conversation_view.py adds only its line-break points on top.
"""

from __future__ import annotations

import unicodedata

REPLACEMENT_CHAR = "\ufffd"  # undecodable bytes from random-weight tokenizers
NOTHING_READABLE = "(nothing readable)"


def readable(text: str) -> str:
    """`text` without control characters (newlines and tabs kept) and without U+FFFD."""
    return "".join(ch for ch in text if _kept(ch))


def _kept(ch: str) -> bool:
    return ch != REPLACEMENT_CHAR and (ch in "\n\t" or unicodedata.category(ch)[0] != "C")


def shown_text(text: str | None) -> str:
    """What a person is shown for `text`: `readable(text)`, or NOTHING_READABLE when the text had characters but
    none of them readable (e.g. a random demo listener's transcript); "" stays ""."""
    if not text:
        return ""
    shown = readable(text)
    return shown if shown.strip() or not text.strip() else NOTHING_READABLE
