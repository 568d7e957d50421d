"""Time and peak memory of FID, sFID, FID at infinite N and KID on synthetic pool3-like features.

Each case runs in a fresh subprocess, so that its peak RSS is its own; the table gives the peak
RSS above the process's RSS once its inputs exist (the features themselves are not counted):

* ``fid-update``: FrechetDistance.update over N x 2048 features in batches of 64 (the ADM
  evaluator's batch), then the FID (one eigenvalue solve of a general 2048 x 2048 matrix);
* ``sfid-update``: the same for N x 192 x 17 x 17 spatial outputs (2023-d vectors), in batches of 64;
* ``fid-infinity``: FIDInfinity over N kept features (15 nested subsets, symmetric solves);
* ``kid``: kernel_inception_distance of N samples against M reference features, torch-fidelity's
  defaults (100 subsets of 1000); with ``--torch-fidelity`` also torch-fidelity's own function.

    python benchmarks/fid_kid_memory.py [--n 50000] [--m 10000] [--cases fid-update,kid,...]

The features are random (ReLU of correlated Gaussians): time and memory do not depend on the values.
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

import numpy as np
import torch

CASES = ("fid-update", "sfid-update", "fid-infinity", "kid", "kid-torch-fidelity")


def features(n: int, dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(n, dim)
    for lo in range(0, n, 8192):  # in blocks: no n x dim float64 temporary
        out[lo : lo + 8192] = torch.relu(torch.randn(min(8192, n - lo), dim, generator=g) * 0.6 + 0.3)
    return out


def reset_peak() -> float:
    """Reset the peak RSS to the current RSS (Linux: ``clear_refs`` 5) and return it, MB."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # not Linux: the peak since the process started
        pass
    return peak_mb()


def peak_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux kB; macOS bytes


def worker(case: str, n: int, m: int) -> dict[str, object]:
    from inception_score.features.network import InceptionOutput
    from inception_score.metrics.features import PooledFeatures
    from inception_score.metrics.frechet import FIDInfinity, FrechetDistance, SpatialFrechetDistance
    from inception_score.metrics.kernel import kernel_inception_distance
    from inception_score.metrics.reference import Reference

    out: dict[str, object] = {"case": case, "n": n}
    if case in ("fid-update", "fid-infinity"):
        x = features(n, 2048, 0)
        ref_x = features(5000, 2048, 1).double()
        mu = ref_x.mean(0)
        reference = Reference(mu=mu.numpy(), sigma=(torch.cov(ref_x.T)).numpy())
        del ref_x
        before = reset_peak()
        start = time.perf_counter()
        if case == "fid-update":
            fid = FrechetDistance(reference)
            for lo in range(0, n, 64):
                fid.update(InceptionOutput(pool3=x[lo : lo + 64]), np.arange(lo, min(lo + 64, n)))
            out["update_s"] = time.perf_counter() - start
            start = time.perf_counter()
            out["value"] = fid.fields({})["fid"]
            out["fields_s"] = time.perf_counter() - start
        else:
            kept = PooledFeatures(0, 2048)
            kept.rows = x  # as if updated: the case measures the sweep
            fields = FIDInfinity(kept, reference).fields({})
            out["fields_s"] = time.perf_counter() - start
            out["value"] = fields["fid_infinity"]
    elif case == "sfid-update":
        g = torch.Generator().manual_seed(0)
        batch = torch.relu(torch.randn(64, 192, 17, 17, generator=g))  # one batch, reused: no N x 55k input
        reference = Reference(mu_s=np.zeros(2023), sigma_s=np.eye(2023))
        before = reset_peak()
        sfid = SpatialFrechetDistance(reference)
        start = time.perf_counter()
        for lo in range(0, n, 64):
            sfid.update(InceptionOutput(spatial=batch[: min(64, n - lo)]), np.arange(lo, min(lo + 64, n)))
        out["update_s"] = time.perf_counter() - start
        start = time.perf_counter()
        out["value"] = sfid.fields({})["sfid"]
        out["fields_s"] = time.perf_counter() - start
    else:
        x, y = features(n, 2048, 0), features(m, 2048, 1)
        out["m"] = m
        before = reset_peak()
        start = time.perf_counter()
        if case == "kid":
            mean, std = kernel_inception_distance(x, y)
        else:
            from torch_fidelity.metric_kid import kid_features_to_metric

            result = kid_features_to_metric(x, y, kid_subsets=100, kid_subset_size=1000, verbose=False, rng_seed=2020)
            mean, std = result["kernel_inception_distance_mean"], result["kernel_inception_distance_std"]
        out["fields_s"] = time.perf_counter() - start
        out["value"] = [mean, std]
    out["rss_before_mb"] = before
    out["peak_above_inputs_mb"] = peak_mb() - before
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000, help="sample images (default 50,000)")
    parser.add_argument("--m", type=int, default=10_000, help="reference images for KID (default 10,000)")
    parser.add_argument("--cases", default="fid-update,sfid-update,fid-infinity,kid", help=f"of {', '.join(CASES)}")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.n, args.m)))
        return
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    print("| case | N | update s | fields s | peak RSS above inputs (MB) | value |")
    print("|---|---|---|---|---|---|")
    for case in args.cases.split(","):
        command = [sys.executable, __file__, "--worker", case, "--n", str(args.n), "--m", str(args.m)]
        line = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        r = json.loads(line)
        update = f"{r['update_s']:.1f}" if "update_s" in r else "-"
        print(
            f"| {case} | {r['n']:,}{' vs ' + format(r['m'], ',') if 'm' in r else ''} | {update} | "
            f"{r['fields_s']:.1f} | {r['peak_above_inputs_mb']:.0f} | {r['value']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
