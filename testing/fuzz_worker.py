"""The fuzz rig's worker: reads {"argv", "cwd"} JSON lines on stdin, runs each as `main.py` would (in-process, so
torch is imported once), and answers {"rc", "stdout", "stderr", "seconds"} on the original stdout.

argv[1]: the address-space cap in bytes (an absurd allocation raises MemoryError instead of swapping the machine).
"""

from __future__ import annotations

import io
import json
import logging
import os
import resource
import sys
import time


def main() -> None:
    cap = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # C-level writes (PortAudio, ALSA) must not corrupt the answers
    from app.quiet_audio import quiet_process

    quiet_process()  # as main.py does: the user's terminal, not a developer's
    from app.cli import build_parser, run_cli
    from app.logs import configure_logging

    configure_logging(0)
    terminal = logging.getLogger().handlers[0]
    parser = build_parser()
    home = os.getcwd()
    for line in sys.stdin:
        request = json.loads(line)
        out, err = io.StringIO(), io.StringIO()
        sys.stdout, sys.stderr = out, err
        terminal.setStream(err)
        os.chdir(request["cwd"] or home)
        started = time.monotonic()
        try:
            rc = run_cli(request["argv"], parser)
        except SystemExit as exit_:  # argparse
            rc = exit_.code if isinstance(exit_.code, int) else 2
        except BaseException as caught:  # noqa: BLE001 - a traceback run_cli let through is the verdict
            import traceback

            err.write("".join(traceback.format_exception(caught)))
            rc = 1
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
            terminal.setStream(sys.__stderr__)
            os.chdir(home)
        answers.write(json.dumps({"rc": rc, "stdout": out.getvalue()[-4000:], "stderr": err.getvalue()[-8000:],
                                  "seconds": time.monotonic() - started}) + "\n")


if __name__ == "__main__":
    main()
