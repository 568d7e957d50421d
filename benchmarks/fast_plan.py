#!/usr/bin/env python
"""What ``--precision fast`` runs on this CPU, and what each choice costs: exact, fast in bf16, fast
in float32 (batch norm folded, channels_last), on CPUs with and without bf16 units.

    python benchmarks/fast_plan.py                    # this CPU as it is, then held to AVX2
    python benchmarks/fast_plan.py --images 8 --threads 2

A CPU without bf16 units is emulated by holding oneDNN (``ONEDNN_MAX_CPU_ISA=AVX2``, its
convolutions) and ATen (``ATEN_CPU_CAPABILITY=avx2``, the other operations) to AVX2 in a fresh
subprocess: the kernels such a CPU runs. Every row is a forward pass of the 2015 graph's layout on
random calibrated weights (tests/conftest.py; the real weights cost the same) over ``--images``
299x299 images, after one warm-up pass; the figure is CPU seconds (user + system, all threads) per
image, which shared virtual CPUs disturb far less than the wall time (also shown). ``auto`` is
what ``fast`` chose (``fast_plan``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELD_TO_AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def worker(images: int, threads: int, rounds: int) -> dict:
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "tests"))
    import torch

    from conftest import build_confident_checkpoint  # type: ignore[import-not-found]
    from inception_score.features.network import InceptionV3
    from inception_score.features.runner import Runner, fast_plan

    torch.set_num_threads(threads)
    net = InceptionV3()
    net.load_state_dict(build_confident_checkpoint())
    net.eval().requires_grad_(False)
    x = torch.rand(images, 3, 299, 299, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cpu = torch.device("cpu")
    chosen, note = fast_plan(cpu)
    rows = {
        "exact": Runner(net, cpu, "exact"),
        "fast bfloat16": Runner(net, cpu, "fast", fast_dtype=torch.bfloat16),
        "fast float32": Runner(net, cpu, "fast", fast_dtype=torch.float32),
    }
    out: dict = {"chosen": str(chosen).removeprefix("torch."), "note": note, "rows": {}}
    reference = None
    with torch.inference_mode():
        for name, runner in rows.items():
            runner(x[:2])  # warm-up: oneDNN primitives, the heap
            best = None
            for _ in range(rounds):
                c, w = _cpu(), time.perf_counter()
                logits = runner(x).logits_unbiased
                cost = (_cpu() - c, time.perf_counter() - w)
                best = cost if best is None or cost[0] < best[0] else best
            if reference is None:
                reference = logits
            deviation = float(((logits - reference).norm(dim=1) / reference.norm(dim=1)).max())
            out["rows"][name] = {"cpu_s_per_image": best[0] / images, "wall_s_per_image": best[1] / images,
                                 "max_logit_deviation": deviation}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="keep each row's cheapest pass")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.images, args.threads, args.rounds)))
        return
    model = next(
        (line.split(":", 1)[1].strip() for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout
         .splitlines() if line.startswith("Model name")), "unknown")  # fmt: skip
    print(f"CPU: {model}; {args.images} images of 299x299, {args.threads} threads, best of {args.rounds}")
    for label, extra in (("this CPU as it is", {}), ("held to AVX2 (no bf16 units)", HELD_TO_AVX2)):
        env = {**os.environ, **extra}
        command = [sys.executable, __file__, "--worker", "--images", str(args.images), "--threads", str(args.threads),
                   "--rounds", str(args.rounds)]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"\n{label} {' '.join(f'{k}={v}' for k, v in extra.items())}: fast runs {result['chosen']}")
        print(f"{'':16} {'CPU s/image':>12} {'wall s/image':>13} {'vs exact':>9} {'max logit dev.':>15}")
        exact = result["rows"]["exact"]["cpu_s_per_image"]
        for name, row in result["rows"].items():
            mark = "  <- fast" if name.endswith(result["chosen"]) else ""
            print(f"{name:16} {row['cpu_s_per_image']:12.3f} {row['wall_s_per_image']:13.3f} "
                  f"{exact / row['cpu_s_per_image']:8.2f}x {row['max_logit_deviation']:15.1e}{mark}")  # fmt: skip


if __name__ == "__main__":
    main()
