"""Findings 1, 5 and 8 through the real event path: X11 key events from xdotool into the real window (Xvfb,
xcb). No button takes a stray key at first run; shortcuts fire while the text box has focus (Ctrl+E, F1,
Ctrl+M, Ctrl+N); holding F2 makes one push-to-talk turn however the server repeats the key."""

from __future__ import annotations

import time

import pytest

from tests.ui.xvfb_app import App, Xvfb, require_tools

pytestmark = pytest.mark.slow


@pytest.fixture
def display():
    require_tools("Xvfb", "xdotool", "import")
    x = Xvfb()
    yield x.display
    x.stop()


def test_keys_reach_the_window_not_the_focused_widget(display, tmp_path):
    app = App(display, ["-v"], tmp_path, tmp_path / "data")
    try:
        app.wait_for("window shown")
        app.focus_main()
        time.sleep(0.5)
        app.key("space", "Return", "space")  # finding 1: nothing is focused, nothing starts
        time.sleep(1.0)
        assert "download: asking" not in app.log()
        app.key("alt+f", "t")  # File → Try the demo
        app.wait_for("model loaded: demo")
        app.focus_main()
        app.type("typed but not sent")  # the text box has the focus after a load
        app.key("ctrl+e")  # finding 5: Ctrl+E exports, it is not "end of line" in the box
        app.wait_for("export: nothing to export yet", timeout_s=20)  # issue 34: an empty conversation is refused
        app.focus_main()
        app.key("F1")
        app.wait_for("showing the keyboard shortcuts")
        time.sleep(0.5)
        app.key("Escape")  # closes the shortcuts card, which has the focus
        time.sleep(0.5)
        for key, logged in (("ctrl+m", "emotion labels shown: False"), ("ctrl+n", "new conversation")):
            app.focus_main()  # no window manager: give the focus back after a dialog closed
            app.key(key)
            app.wait_for(logged, timeout_s=20)
        assert "reply 1 ended" not in app.log()  # the typed text was never sent as a message
        # finding 8: hold F2 for 1.5 s with the server's key repeat on: one turn, no message storm
        app.xdo("keydown", "F2")
        time.sleep(1.5)
        app.xdo("keyup", "F2")
        app.wait_for("talk key released")
        time.sleep(1.0)
        log = app.log()
        assert log.count("talk key released") == 1, log[-2000:]
        assert log.count("Hold the talk button") <= 1
        app.key("ctrl+q")
        assert app.finish() == 0
    finally:
        if app.proc.poll() is None:
            app.proc.kill()
    assert "window closed (clean shutdown: True)" in app.log()
