"""The cost of FID and KID on top of IS, against torch-fidelity computing the same three metrics.

One run, the same images and random-weight checkpoint for every row (the tests' confident
checkpoint, real layout, so the real cost), each row in a fresh process:

1. inception-score, IS only, on the samples;
2. inception-score, IS + FID + KID against a reference folder (one pass over each set);
3. torch-fidelity 0.4, ``calculate_metrics(isc=True, fid=True, kid=True)`` with its defaults.

Prints wall seconds, images/s (samples + reference over the time), peak RSS, and the numbers each
tool got. Usage::

    python benchmarks/fid_kid.py --samples 200 --reference 200 [--device cpu] [--kid-subset-size 100]

At full scale (50,000 samples, 10,000 reference, KID subsets of 1000) pass ``--samples 50000
--reference 10000`` on a GPU machine. ``benchmarks/fid_kid_memory.py`` measures the metrics alone
on synthetic features (KID's memory at 50k).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _worker(spec: dict) -> None:
    import torch

    torch.set_num_threads(spec["threads"])
    start = time.perf_counter()
    if spec["tool"] == "theirs":
        import torch_fidelity

        m = torch_fidelity.calculate_metrics(
            input1=spec["samples"], input2=spec["reference"], isc=True, fid=True, kid=True,
            kid_subset_size=spec["kid_subset_size"], feature_extractor_weights_path=spec["weights"],
            cuda=spec["device"] == "cuda", verbose=False,
        )  # fmt: skip
        values = {"is": m["inception_score_mean"], "fid": m["frechet_inception_distance"],
                  "kid": m["kernel_inception_distance_mean"]}  # fmt: skip
    else:
        import inception_score

        extra = {} if spec["tool"] == "ours-is" else {"ref": spec["reference"], "metrics": ("fid", "kid")}
        r = inception_score.compute(spec["samples"], weights=spec["weights"], device=spec["device"], progress=False,
                                    kid_subset_size=spec["kid_subset_size"], **extra)  # fmt: skip
        values = {"is": r.mean, "fid": r.fid, "kid": r.kid_mean}
    elapsed = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB on Linux
    print(json.dumps({"elapsed": elapsed, "rss": rss, **values}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--reference", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--kid-subset-size", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        _worker(json.loads(args.worker))
        return
    sys.path.insert(0, str(HERE.parent / "tests"))
    import torch

    from conftest import build_confident_checkpoint, make_images, write_images

    data = Path(tempfile.mkdtemp(prefix="fid-kid-bench-"))
    write_images(data / "samples", make_images(args.samples, (32, 32), seed=1))
    write_images(data / "reference", make_images(args.reference, (32, 32), seed=2))
    weights = data / "weights.pth"
    torch.save(build_confident_checkpoint(), weights)
    rows = []
    for tool in ("ours-is", "ours-is-fid-kid", "theirs"):
        spec = {"tool": tool, "samples": str(data / "samples"), "reference": str(data / "reference"),
                "weights": str(weights), "device": args.device, "kid_subset_size": args.kid_subset_size,
                "threads": args.threads}  # fmt: skip
        done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True)
        if done.returncode:
            sys.exit(done.stderr[-2000:])
        rows.append((tool, json.loads(done.stdout.strip().splitlines()[-1])))
    images = {"ours-is": args.samples}
    print(f"{args.samples} samples + {args.reference} reference images (32x32 PNG), {args.device}, "
          f"{args.threads} threads, KID subsets of {args.kid_subset_size}\n")  # fmt: skip
    print("| row | s | images/s | peak RSS MiB | IS | FID | KID |")
    print("|---|---|---|---|---|---|---|")
    for tool, r in rows:
        n = images.get(tool, args.samples + args.reference)
        fid = f"{r['fid']:.4f}" if r["fid"] is not None else ""
        kid = f"{r['kid']:.6f}" if r["kid"] is not None else ""
        print(
            f"| {tool} | {r['elapsed']:.1f} | {n / r['elapsed']:.1f} | {r['rss']:.0f} | {r['is']:.4f} | {fid} | {kid} |"
        )


if __name__ == "__main__":
    main()
