"""Cost of the load-time check for NaN / infinite weights (models.tensor_checks.is_finite), on CPU.

    python bench/bench_finite_check.py --checkpoint DIR     # a checkpoint's own tensors (e.g. the tiny one)
    python bench/bench_finite_check.py --elements 67108864  # one big tensor per dtype: the rate for an 8B model

Compares the check used at load (one float32 sum per tensor, element-wise only when the sum is not finite) with
`torch.isfinite(t).all()`. Best of N runs; 1 torch thread unless --threads.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

PARAMS_8B = 8e9


def best_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="an OpenS2S checkpoint folder (its tensors are read once)")
    p.add_argument("--elements", type=int, default=64 * 1024 * 1024, help="size of the big tensor (default 64 M)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    import torch

    from models.checkpoint import iter_tensors, weight_files
    from models.tensor_checks import is_finite

    torch.set_num_threads(args.threads)
    if args.checkpoint:
        files = weight_files(Path(args.checkpoint))
        dev = torch.device("cpu")
        read = best_s(lambda: list(iter_tensors(files, dev)), args.repeats)
        tensors = [t for _, t in iter_tensors(files, dev)]
        n = sum(t.numel() for t in tensors)
        ours = best_s(lambda: [is_finite(t) for t in tensors], args.repeats)
        plain = best_s(lambda: [bool(torch.isfinite(t).all()) for t in tensors], args.repeats)
        print(f"{args.checkpoint}: {len(tensors)} tensors, {n / 1e6:.2f} M values; reading them {read * 1e3:.1f} ms; "
              f"check {ours * 1e3:.2f} ms ({100 * ours / read:.0f} % of the read); isfinite().all() "
              f"{plain * 1e3:.2f} ms")
    for dtype in (torch.bfloat16, torch.float32):
        big = torch.randn(args.elements).to(dtype)
        gb = big.numel() * big.element_size() / 1e9
        ours = best_s(lambda big=big: is_finite(big), args.repeats)
        plain = best_s(lambda big=big: bool(torch.isfinite(big).all()), args.repeats)
        scale = PARAMS_8B / big.numel()
        print(f"{str(dtype).removeprefix('torch.')}: {big.numel() / 1e6:.0f} M values ({gb:.2f} GB): check "
              f"{ours * 1e3:.0f} ms ({gb / ours:.1f} GB/s) -> 8B params {ours * scale:.1f} s; isfinite().all() "
              f"{plain * 1e3:.0f} ms -> 8B {plain * scale:.1f} s")


if __name__ == "__main__":
    main()
