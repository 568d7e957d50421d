"""Peak memory and time of precision/recall (both precisions) and density/coverage at scale, on this CPU.

    python benchmarks/manifold_memory.py [--samples 20000] [--reference 10000] [--block 10000 ...]

Synthetic pool3-like features (2048-d, positive, mean ~0.3, |u|^2 ~ 450, on a 64-d manifold;
the samples' latent mean shifted by 0.2), so the two precisions can be compared on realistic
magnitudes. Each measurement runs in a fresh process that first loads the features, then lowers
its recorded peak resident set to the current one (Linux ``/proc/self/clear_refs``; elsewhere the
``ru_maxrss`` delta, which can only under-report); the printed peak is the call's high-water mark
minus that, i.e. what the call added on top of the features.

The bound: whatever N and M, the call holds the features, O(N + M) per-point values, and one
block of distances with its temporaries: for b x b blocks (b = ``block``) about 3 bytes per entry
in float16 mode (the float16 block and a boolean mask; the float32 products are rounded to
float16 in 64 MB row chunks), 5 in float32 mode and for density/coverage, plus a few b x D float32
row blocks: **under 1 GB at the default b = 10,000** and under 0.5 GB at b = 5,000, independent
of N and M (more images mean more blocks, not bigger ones).

Measured on an AMD EPYC (Zen 5, family 26), 2 vCPUs under KVM, torch 2.14.1, 20,000 x 10,000,
block 10,000 (peak added by the call; time on a shared machine with load average ~8):

    precision/recall float16   88 s   575 MiB   (P 0.35375, R 0.37390)
    precision/recall float32   70 s   512 MiB   (P 0.35170, R 0.37320)
    density/coverage           33 s   571 MiB   (D 0.71200, C 0.96610)

and at block 5,000: 84 s / 355 MiB, 76 s / 185 MiB, 34 s / 203 MiB, the same numbers. Time is
that of the matrix products, (N^2 + M^2 + N M) x D multiply-adds for precision/recall and
(M^2 + N M) x D for density/coverage, in float32 in both modes: the float16 mode rounds float32
products to float16 and does not use float16 matrix products, which are slow on CPUs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def pool3_like(n: int, seed: int, shift: float = 0.0, dim: int = 2048) -> np.ndarray:
    """n float32 pool3-like vectors (the same recipe as tests/test_manifold.py)."""
    net = np.random.default_rng(1234)
    w = net.normal(0, 1, (64, dim)) / 8.0
    b = net.normal(-1.0, 0.5, dim)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, 5000):  # in chunks: keep the generator's own peak small
        m = min(5000, n - lo)
        h = rng.normal(shift, 1.0, (m, 64)) @ w + b + rng.normal(0, 0.3, (m, dim))
        out[lo : lo + m] = np.logaddexp(0, 1.5 * h) / 1.5
    return out


def peak_kib(reset: bool = False) -> int:
    """This process's peak resident set (KiB). With ``reset``, first lower the peak to the current
    resident set where Linux allows it (``/proc/self/clear_refs``), and return that."""
    status = Path("/proc/self/status")
    if reset:
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to VmRSS
        except OSError:
            pass
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        if "VmHWM" in fields:
            return int(fields["VmHWM"].split()[0])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, never reset


def measure(folder: str, what: str, block: int) -> None:
    """In a fresh process: load the features, run ``what`` once, print JSON (time, added peak RSS, result)."""
    import torch

    from inception_score.metrics.manifold import density_coverage, precision_recall

    samples = torch.from_numpy(np.load(Path(folder) / "samples.npy"))
    reference = torch.from_numpy(np.load(Path(folder) / "reference.npy"))
    before = peak_kib(reset=True)
    start = time.perf_counter()
    if what == "dc":
        result = density_coverage(samples, reference, block=block)
    else:
        result = precision_recall(samples, reference, precision=what, block=block)
    seconds = time.perf_counter() - start
    after = peak_kib()
    print(json.dumps({"seconds": seconds, "peak_added_mib": (after - before) / 1024, "result": result}))


def cpu_model() -> str:
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        fields = dict(line.split(":", 1) for line in lines if ":" in line)
        return f"{fields.get('Model name', '?').strip()}, {fields.get('CPU(s)', '?').strip()} CPUs"
    except (OSError, subprocess.CalledProcessError):
        return "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--reference", type=int, default=10_000)
    parser.add_argument("--block", type=int, nargs="+", default=[10_000])
    parser.add_argument("--measure", nargs=3, metavar=("FOLDER", "WHAT", "BLOCK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure[0], args.measure[1], int(args.measure[2]))
        return
    import torch

    print(f"{cpu_model()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{args.samples} samples x {args.reference} reference, 2048-d pool3-like float32 features")
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder) / "samples.npy", pool3_like(args.samples, seed=1, shift=0.2))
        np.save(Path(folder) / "reference.npy", pool3_like(args.reference, seed=2))
        results = {}
        for block in args.block:
            for what in ("float16", "float32", "dc"):
                command = [sys.executable, __file__, "--measure", folder, what, str(block)]
                out = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
                results[what, block] = out["result"]
                name = "density/coverage" if what == "dc" else f"precision/recall {what}"
                values = ", ".join(f"{v:.5f}" for v in out["result"])
                print(
                    f"block {block:>6}  {name:<26} {out['seconds']:7.1f} s  "
                    f"peak +{out['peak_added_mib']:6.0f} MiB  ({values})"
                )
        block = args.block[0]
        (p16, r16), (p32, r32) = results["float16", block], results["float32", block]
        print(
            f"float16 - float32: precision {p16 - p32:+.5f} ({round((p16 - p32) * args.samples):+d} samples), "
            f"recall {r16 - r32:+.5f} ({round((r16 - r32) * args.reference):+d} reference images)"
        )


if __name__ == "__main__":
    main()
