"""python -m testing.turn_corpus build [--out DIR] [--small]: make (or find) the turn corpus, print its folder and
the clip counts per split x synthesizer x kind."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter

from models.errors import UserError
from testing.turn_corpus.build import build_corpus
from testing.turn_corpus.corpus import read_manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testing.turn_corpus")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="make the corpus (reuses a finished one, finishes a partial one)")
    build.add_argument("--out", help="the corpus folder (default: the cache folder for these settings)")
    build.add_argument("--small", action="store_true", help="8 clips per cell (for tests)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    began = time.monotonic()
    try:
        folder = build_corpus(args.out, small=args.small)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    clips = read_manifest(folder)
    print(folder)
    print(f"{len(clips)} clips, {time.monotonic() - began:.1f} s")
    cells = Counter((c.split, c.synth, c.kind) for c in clips)
    for (split, synth, kind), n in sorted(cells.items()):
        print(f"  {split:8s} {synth:10s} {kind:9s} {n}")
    kinds = Counter((c.split, c.sentence_kind) for c in clips)
    print("sentence kinds: " + ", ".join(f"{s}/{k} {n}" for (s, k), n in sorted(kinds.items())))
    noisy = Counter((c.split, c.noise["kind"] if c.noise else "none") for c in clips)
    print("noise: " + ", ".join(f"{s}/{k} {n}" for (s, k), n in sorted(noisy.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
