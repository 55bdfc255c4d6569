"""The README and docs name settings the way the Settings dialog labels them (issue 34, finding 6).

Every `Settings → [Tab →] "Label"` the docs quote must be a label of ui/settings_dialog.py's ROWS (the tab, when
named, its tab); an unquoted `Settings → Word` in the README must be a tab. No window is made: ROWS is data.
"""

from __future__ import annotations

import re
from pathlib import Path

from ui.settings_dialog import GROUPS, ROWS

REPO = Path(__file__).resolve().parents[2]
ARROW = r"\s*(?:→|->)\s*"
QUOTED = re.compile(rf"Settings{ARROW}(?:(?P<tab>[A-Z][\w-]*){ARROW})?[\"“](?P<label>[^\"”]+)[\"”]")
UNQUOTED = re.compile(rf"Settings{ARROW}(?P<word>[A-Z][\w-]*)(?![\w-])(?!{ARROW})")


def _docs() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _flat(text: str) -> str:
    return " ".join(text.split())  # a quoted label may wrap across lines


def test_every_setting_the_docs_quote_is_a_label_of_the_settings_dialog_in_its_tab():
    labels = {label: group for group, _field, label, _help in ROWS}
    quoted, wrong = [], []
    for path in _docs():
        for m in QUOTED.finditer(_flat(path.read_text(encoding="utf-8"))):
            label, tab = m.group("label"), m.group("tab")
            quoted.append(label)
            if labels.get(label) is None or (tab is not None and labels[label] != tab):
                wrong.append(f"{path.relative_to(REPO)}: {m.group(0)!r}")
    assert not wrong, "not a Settings label (or not in that tab):\n" + "\n".join(wrong)
    # the README's own names (finding 6): the ones it used to get wrong are now the dialog's
    readme = _flat((REPO / "README.md").read_text(encoding="utf-8"))
    for label in ("Start replying early after (ms)", "Speech start", "Judge whether you finished",
                  "Longest pause inside your turn (ms)"):
        assert f'"{label}"' in readme, label
    for old in ("Semantic end of turn", "Start reply early after", "Vocoder start", "~160 ms", "~100 ms"):
        assert old not in readme, old
    assert len(quoted) >= 5


def test_the_readme_names_only_real_tabs_and_says_what_the_fixed_pause_does_while_smart_turn_decides():
    readme = _flat((REPO / "README.md").read_text(encoding="utf-8"))
    words = {m.group("word") for m in UNQUOTED.finditer(readme)}
    assert words <= set(GROUPS), words - set(GROUPS)
    assert '"Pause that ends your turn (ms)" is not used' in readme
    assert "760–869 ms" in readme and "docs/turn_taking.md" in readme  # the held-out medians, with their source
    end_silence_help = next(h for _g, field, _label, h in ROWS if field == "end_silence")
    assert "Judge whether you finished" in end_silence_help  # the dialog's own help says the same
