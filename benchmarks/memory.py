"""Peak memory does not depend on N: 10k, 100k and 1M tiny images through a stand-in classifier.

Each N runs in a fresh subprocess (so peak RSS is its own): a seeded generator of 8x8 uint8
images (never written to disk), a tiny classifier over 100 classes (``--classifier`` path, so no
299x299 resize: this measures the pipeline's and the statistics' memory, not the network's),
the default statistics (10 splits, 200 bootstrap replicates, nested subsets for IS at infinite N).

    python benchmarks/memory.py [--sizes 10000,100000,1000000] [--out benchmarks/out/memory.md]

The only per-image memory is two int64 permutations of N (the seeded split order and the nested
subsets): 16 bytes per image, 16 MB at 1M. Everything else is a sum.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

CLASSES = 100


def tiny(x: torch.Tensor) -> torch.Tensor:
    """N x 3 x 8 x 8 -> N x 100 confident logits (a fixed random projection)."""
    weight = torch.randn(CLASSES, 3 * 8 * 8, generator=torch.Generator().manual_seed(0)) * 3.0
    return x.flatten(1) @ weight.T


class Sampler:
    """Seeded 8x8 images, drawn in order (``seek`` lets a run start anywhere)."""

    image_range = (0.0, 255.0)

    def __init__(self) -> None:
        self.position = 0

    def seek(self, index: int) -> None:
        self.position = index

    def __call__(self, n: int) -> np.ndarray:
        rng = np.random.default_rng(self.position)
        self.position += n
        return rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)


def worker(n: int) -> dict[str, float]:
    import inception_score
    from inception_score.inputs.generators import GeneratorSource

    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = inception_score.compute(
        GeneratorSource(Sampler(), n, batch_size=4096),
        classifier=f"{Path(__file__).resolve()}:tiny",
        batch_size=4096,
        progress=False,
    )
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "num_images": n,
        "peak_rss_mb": peak_kb / 1024,
        "rss_before_mb": before / 1024,
        "seconds": time.perf_counter() - start,
        "inception_score": result.mean,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "memory.md"))
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        done = subprocess.run([sys.executable, __file__, "--worker", str(n)], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    lines = [
        f"Peak RSS, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d')}",
        "",
        "| images | peak RSS (MB) | RSS after imports (MB) | seconds | IS (stand-in, 100 classes) |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['num_images']:,} | {r['peak_rss_mb']:.0f} | {r['rss_before_mb']:.0f} | {r['seconds']:.1f} | "
        f"{r['inception_score']:.3f} |"
        for r in rows
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
