"""FID's tr (S1 S2)^{1/2}: the general eigenvalue solver (before issue 21) against the non-null eigenspace route.

Two measurements on synthetic pool3-like features (ReLU of a rotated Gaussian whose standard
deviations fall as k^-1/2, the same distribution for both sets):

* **time, full rank** (``--n 50000 --m 50000``, D = 2048): the float64 statistics of each set, then
  the FID by
  - ``eigvals (before)``: ``torch.linalg.eigvals(S1 @ S2)``, the square roots' real parts summed
    (this package until issue 21; torch-fidelity 0.4's formula in torch);
  - ``eigh (now)``: :func:`inception_score.metrics.frechet.frechet_distance` (eigh of S2, the
    eigenvalues of the r x r symmetric R^T S1 R);
  - ``torch-fidelity``: ``torch_fidelity.metric_fid.fid_statistics_to_metric`` (numpy eigvals),
    with ``--torch-fidelity``.
  The methods alternate for ``--rounds`` rounds; each row gives every time and the least (the
  machine is shared: the least is the one least slowed by others), the FID and its relative
  difference from the ``eigh`` value.
* **accuracy, small N** (``--small 68,54``, D = 2048): FID by each method, and the exact value: the
  sum of the singular values of A B^T (A, B the centred features / sqrt(n - 1)), which needs no
  D x D eigenvalue problem. scipy's sqrtm (pytorch-fid, the ADM evaluator) is added when SciPy is
  installed.

    python benchmarks/fid_exact.py [--n 50000] [--m 50000] [--rounds 2] [--torch-fidelity] [--json out.json]

Prints a Markdown table (the one in ``benchmarks/RESULTS.md``) and the CPU and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from inception_score.features.network import InceptionOutput
from inception_score.metrics import frechet as frechet_module
from inception_score.metrics.frechet import FrechetDistance, frechet_distance

DIM = 2048


def mixing(dim: int, seed: int = 0) -> torch.Tensor:
    """The distribution's rotation, scaled: row k of the result is k^-1/2 q_k (float32, dim x dim)."""
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return (torch.arange(1, dim + 1, dtype=torch.float64).pow(-0.5)[:, None] * q.T).float()


def features(n: int, mix: torch.Tensor, seed: int, block: int = 8192):
    """n rows of ReLU(3 z mix + 0.3), float32, in blocks (never the whole n x D in float64)."""
    g = torch.Generator().manual_seed(seed)
    for lo in range(0, n, block):
        z = torch.randn(min(block, n - lo), mix.shape[0], generator=g)
        yield torch.relu(3 * z @ mix + 0.3)


def statistics(n: int, mix: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
    """(mu, sigma) in float64 as the package accumulates them; and the rows (float64) when n is small."""
    acc = FrechetDistance(None, feature_dim=mix.shape[0])
    rows = []
    for i, x in enumerate(features(n, mix, seed)):
        acc.update(InceptionOutput(pool3=x), np.arange(i, i + len(x)))
        if n <= 10_000:
            rows.append(x.double().numpy())
    mu, sigma = acc.moments()
    return mu, sigma, np.concatenate(rows) if rows else None


def fid_eigvals(mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor, s2: torch.Tensor) -> float:
    """The method before issue 21 (frechet.py until then): general eigenvalues of S1 S2, complex square roots."""
    diff = mu1 - mu2
    tr_covmean = torch.linalg.eigvals(s1 @ s2).sqrt().real.sum()
    return float(diff.dot(diff) + s1.trace() + s2.trace() - 2 * tr_covmean)


def fid_torch_fidelity(mu1, s1, mu2, s2) -> float:
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    stats = [{"mu": m.numpy(), "sigma": s.numpy()} for m, s in ((mu1, s1), (mu2, s2))]
    return float(fid_statistics_to_metric(stats[0], stats[1], verbose=False)["frechet_inception_distance"])


def fid_sqrtm(mu1, s1, mu2, s2) -> float | None:
    try:
        import scipy.linalg
    except ImportError:
        return None
    m1, a, m2, b = (t.numpy() for t in (mu1, s1, mu2, s2))
    covmean = scipy.linalg.sqrtm(a @ b)
    return float(((m1 - m2) ** 2).sum() + np.trace(a) + np.trace(b) - 2 * np.trace(covmean).real)


def fid_exact(x1: np.ndarray, x2: np.ndarray) -> float:
    """Sum of the singular values of A B^T: S1 S2 and (A B^T)(A B^T)^T share their non-zero eigenvalues."""
    mu1, mu2 = x1.mean(0), x2.mean(0)
    a, b = (x1 - mu1) / np.sqrt(len(x1) - 1), (x2 - mu2) / np.sqrt(len(x2) - 1)
    nuclear = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    return float(((mu1 - mu2) ** 2).sum() + (a * a).sum() + (b * b).sum() - 2 * nuclear)


def timed(fn, *args) -> tuple[float, float]:
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="sample features (default 50000)")
    parser.add_argument("--m", type=int, default=50_000, help="reference features (default 50000)")
    parser.add_argument("--dim", type=int, default=DIM, help="feature dimension (default 2048)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the timed methods, alternating")
    parser.add_argument("--small", default="68,54", help="sample,reference sizes of the accuracy check")
    parser.add_argument("--torch-fidelity", action="store_true", help="also time torch-fidelity's function")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    mix = mixing(args.dim)
    out: dict = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                 "torch": torch.__version__, "load_before": os.getloadavg()}  # fmt: skip

    def first_time(*stats: np.ndarray) -> float:
        """The reference's factor computed afresh (psd_factor keeps the last few by content)."""
        frechet_module._FACTORS.clear()
        return frechet_distance(*stats)

    t0 = time.perf_counter()
    mu1, s1, _ = statistics(args.n, mix, 1)
    mu2, s2, _ = statistics(args.m, mix, 2)
    out["statistics_s"] = time.perf_counter() - t0
    methods = {"eigvals (before)": fid_eigvals, "eigh (now)": first_time,
               "eigh (now), a reference seen before": frechet_distance}  # fmt: skip
    if args.torch_fidelity:
        methods["torch-fidelity 0.4 (numpy eigvals)"] = fid_torch_fidelity
    rows: dict[str, dict] = {name: {"times": []} for name in methods}
    for _ in range(args.rounds):
        for name, fn in methods.items():
            seconds, value = timed(fn, mu1, s1, mu2, s2)
            rows[name]["times"].append(seconds)
            rows[name]["fid"] = value
    now = rows["eigh (now)"]["fid"]
    print(f"## full rank: {args.n:,} vs {args.m:,} features, D = {args.dim}\n")
    print("| method | least s | every run, s | FID | relative to eigh (now) |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        times = ", ".join(f"{t:.2f}" for t in row["times"])
        print(f"| {name} | {min(row['times']):.2f} | {times} | {row['fid']:.10f} | {(row['fid'] - now) / now:.1e} |")
    out["full_rank"] = rows

    n_small, m_small = (int(v) for v in args.small.split(","))
    a_mu, a_s, a_x = statistics(n_small, mix, 3)
    b_mu, b_s, b_x = statistics(m_small, mix, 4)
    exact = fid_exact(a_x, b_x)
    small = {"exact: Σ singular values of A·Bᵀ": exact, "eigh (now)": frechet_distance(a_mu, a_s, b_mu, b_s),
             "eigvals (before)": fid_eigvals(a_mu, a_s, b_mu, b_s),
             "torch-fidelity 0.4 (numpy eigvals)": fid_torch_fidelity(a_mu, a_s, b_mu, b_s),
             "scipy sqrtm (pytorch-fid, ADM evaluator)": fid_sqrtm(a_mu, a_s, b_mu, b_s),
             "a set against itself, eigh (now)": frechet_distance(a_mu, a_s, a_mu, a_s),
             "a set against itself, eigvals (before)": fid_eigvals(a_mu, a_s, a_mu, a_s)}  # fmt: skip
    print(f"\n## small N: {n_small} vs {m_small} features, D = {args.dim} (both covariances singular)\n")
    print("| method | FID | relative to exact |")
    print("|---|---|---|")
    for name, value in small.items():
        if value is None:
            continue
        relative = "" if "itself" in name else f"{(value - exact) / exact:.1e}"
        print(f"| {name} | {value:.10g} | {relative} |")
    out["small"] = small
    out["load_after"] = os.getloadavg()
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; load average before "
          f"{out['load_before'][0]:.1f}, after {out['load_after'][0]:.1f}")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
