"""`devices`: list the audio devices PortAudio sees (index, name, channels, native rate, defaults)."""

from __future__ import annotations

import argparse
import json
import logging

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("devices", help="list audio input/output devices")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run, uses_models=False)


def list_devices(backend) -> list[dict]:
    """[{"index", "name", "inputs", "outputs", "rate_hz", "default_input", "default_output"}]"""
    default_in, default_out = (list(backend.default.device) + [-1, -1])[:2]
    rows = []
    for i, d in enumerate(backend.query_devices()):
        rows.append(
            {
                "index": i,
                "name": d["name"],
                "inputs": d["max_input_channels"],
                "outputs": d["max_output_channels"],
                "rate_hz": int(d["default_samplerate"]),
                "default_input": i == default_in,
                "default_output": i == default_out,
            }
        )
    return rows


def run(args: argparse.Namespace) -> int:
    import sounddevice  # deferred: PortAudio enumerates devices at import

    rows = list_devices(sounddevice)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no audio devices found (is a sound server running? see docs/engine.md)")
        return 1
    print(f"{'idx':>3}  {'in':>2} {'out':>3} {'rate':>6}  name")
    for r in rows:
        mark = ("<in " if r["default_input"] else "") + ("<out" if r["default_output"] else "")
        row = f"{r['index']:>3}  {r['inputs']:>2} {r['outputs']:>3} {r['rate_hz']:>6}  {r['name']} {mark}"
        print(row.rstrip())
    return 0
