"""Quit the real app with Ctrl+Q while a reply is playing, N times in a row (issue 19, finding 15).

Each run: `main.py -v --demo --send "..."` on a private Xvfb display with a private PulseAudio server (null sinks),
wait until the log says the reply is playing (state thinking -> speaking), wait a random 0-0.8 s, press Ctrl+Q
with xdotool (XTEST, as a user would), and wait for the process to exit. A run passes when it exits 0 within the
limit and its log has none of: "abandoning", "did not end", "did not stop", "terminate called", "Fatal Python error",
"leaving its threads behind". Prints one line per run and a summary; exit status 0 only if every run passed.

    python scripts/quit_during_reply.py --runs 20 [--keep DIR]

Needs Xvfb, xdotool, pulseaudio and pactl (.ci/install). The demo checkpoint is written once and shared.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPEAKING = "-> speaking"
BAD = ("abandoning", "did not end", "did not stop", "terminate called", "Fatal Python error",
       "leaving its threads behind", "Traceback")
START_TIMEOUT_S = 180.0
EXIT_TIMEOUT_S = 60.0
PROMPT = "Please tell me a long story about the sea."


def start_xvfb() -> tuple[subprocess.Popen, str]:
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        return proc, f":{f.readline().strip()}"


def start_pulse(runtime: Path) -> tuple[subprocess.Popen, dict]:
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), PULSE_SERVER=f"unix:{runtime}/pulse/native")
    proc = subprocess.Popen(["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
                             "-L", "module-native-protocol-unix", "-L", "module-null-sink sink_name=spk rate=48000",
                             "-L", "module-null-sink sink_name=micsink rate=16000 channels=1",
                             "-L", "module-always-sink"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("pulseaudio did not start")
        time.sleep(0.1)
    subprocess.run(["pactl", "set-default-sink", "spk"], env=env, check=True)
    subprocess.run(["pactl", "set-default-source", "micsink.monitor"], env=env, check=True)
    return proc, env


def wait_for(log: Path, text: str, proc: subprocess.Popen, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def press_ctrl_q(env: dict) -> None:
    ids = subprocess.run(["xdotool", "search", "--name", "OpenS2S Companion"], env=env, capture_output=True,
                         text=True).stdout.split()
    for wid in ids:
        subprocess.run(["xdotool", "windowfocus", "--sync", wid], env=env, capture_output=True, timeout=10)
    subprocess.run(["xdotool", "key", "ctrl+q"], env=env, check=True, timeout=10)


def one_run(i: int, env: dict, work: Path, demo: Path, rng: random.Random) -> tuple[bool, str, float]:
    config, data = work / f"config{i}", work / f"data{i}"
    data.mkdir(parents=True)
    if demo.exists():
        (data / "demo").symlink_to(demo)
    run_env = dict(env, OPENS2S_COMPANION_CONFIG_DIR=str(config), OPENS2S_COMPANION_DATA_DIR=str(data),
                   QT_QPA_PLATFORM="xcb")
    log = work / f"run{i}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "main.py", "-v", "--demo", "--send", PROMPT], cwd=REPO,
                                env=run_env, stdout=out, stderr=subprocess.STDOUT)
    try:
        if not wait_for(log, SPEAKING, proc, START_TIMEOUT_S):
            return False, "never reached speaking", 0.0
        if not demo.exists() and (data / "demo").is_dir():
            shutil.copytree(data / "demo", demo, symlinks=True)
        time.sleep(rng.uniform(0.0, 0.8))
        t0 = time.monotonic()
        press_ctrl_q(run_env)
        rc = proc.wait(EXIT_TIMEOUT_S)
        exit_s = time.monotonic() - t0
    except subprocess.TimeoutExpired:
        return False, "did not exit", EXIT_TIMEOUT_S
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    text = log.read_text(errors="replace")
    bad = [b for b in BAD if b in text]
    ok = rc == 0 and not bad
    return ok, f"rc={rc}" + (f" log has {bad}" if bad else ""), exit_s


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--keep", type=Path, help="keep the logs in this folder")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    for tool in ("Xvfb", "xdotool", "pulseaudio", "pactl"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (see .ci/install)", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="quit-runs-"))
    xvfb, display = start_xvfb()
    pulse, env = start_pulse(work / "pulse-runtime")
    env.update(DISPLAY=display, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    rng = random.Random(args.seed)
    passed, exits = 0, []
    try:
        for i in range(1, args.runs + 1):
            ok, what, exit_s = one_run(i, env, work, work / "demo", rng)
            passed += ok
            exits.append(exit_s)
            print(f"run {i:2d}: {'ok  ' if ok else 'FAIL'} {what}, exit {exit_s:.2f} s after Ctrl+Q", flush=True)
    finally:
        pulse.terminate()
        xvfb.terminate()
        pulse.wait(10)
        xvfb.wait(10)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for log in work.glob("run*.log"):
                shutil.copy(log, args.keep / log.name)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{passed}/{args.runs} quits during a playing reply exited 0 with no thread abandoned "
          f"(exit after Ctrl+Q: max {max(exits):.2f} s)")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
