#!/usr/bin/env python
"""Speed and peak memory of our DINOv2 / CLIP feature pass against the reference code, same weights, same images.

    python benchmarks/vit_speed.py --network dinov2 --images 32 --batch-size 16
    python benchmarks/vit_speed.py --network clip --images 16 --batch-size 8 --rounds 2

Rows (each in a fresh subprocess, so that peak RSS is the row's own and nothing warm is shared):

* ``reference``: DINOv2: facebookresearch's model code (the ``dinov2`` package, 0.0.1.dev2:
  ``DinoVisionTransformer`` as torch.hub's ``dinov2_vitl14`` builds it, eval, ``requires_grad_(False)``)
  with EDM2's ``DINOv2Detector`` preprocessing (``resize_mode='torch'``) and EDM2's float64 sums
  ``Σx``, ``XᵀX``. CLIP: the CMMD PyTorch port's pipeline: CMMD's crop and PIL resize to float32
  arrays, ``/ 255``, the port's bicubic ``F.interpolate`` to 336, ``CLIPImageProcessor``
  normalisation, transformers' ``CLIPVisionModelWithProjection``, embeddings divided by their
  norm, then the reference distance (float32 numpy, RBF σ = 10, x1000) against the set itself.
* ``exact`` and ``fast``: this package's ``build_dinov2`` / ``build_clip`` (prepare + forward,
  ``precision`` exact / fast), with the same float64 sums / the same distance.

Weights: random, in the official layout (``tests/vit_checkpoints.py``: the full ViT-L/14 and
ViT-L/14@336 shapes, so the same cost as the real weights), written once to ``--data-dir``.
Images: ``--images`` uint8 RGB images of 256 x 320 (H x W; CLIP crops them to 256 x 256), the
same for every row. Per row: imports, then model load (``load s``), one call on one batch
(``first call s``), then the timed pass over all images (``time s``, ``images/s``, ``CPU s`` =
user + system CPU time of that pass). ``whole s``: the subprocess's wall time from start to end,
imports and loading included (``whole images/s`` = images / whole s). ``peak RSS``: ``VmHWM``.
``max |Δ| / max |ref|``: the largest difference of the row's features from the reference row's,
relative to the largest reference feature (CLIP: absolute, on unit vectors). ``--rounds K``
runs the list K times, round-robin, and keeps each row's fastest timed pass: on shared virtual
CPUs, whose speed varies from minute to minute, the figure least affected by neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
ROWS = ("reference", "exact", "fast")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                flags = next(x for x in Path("/proc/cpuinfo").read_text().splitlines() if x.startswith("flags"))
                units = [f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f" {f}" in flags]
                return f"{name}, {os.cpu_count()} vCPUs ({', '.join(units) or 'no AVX-512'})"
    except (OSError, StopIteration):
        pass
    return platform.processor() or platform.machine()


def make_data(network: str, data: Path, images: int) -> tuple[Path, Path]:
    """The weights file and the images (.npy, N x 3 x 256 x 320 uint8), made once."""
    import numpy as np
    import torch

    sys.path.insert(0, str(TESTS))
    import vit_checkpoints

    data.mkdir(parents=True, exist_ok=True)
    weights = data / ("dinov2_vitl14_random.pth" if network == "dinov2" else "clip_vitl14_336_random.safetensors")
    if not weights.exists():
        if network == "dinov2":
            torch.save(vit_checkpoints.dinov2_reference(small=False, seed=0).state_dict(), weights)
        else:
            vit_checkpoints.save_clip_safetensors(vit_checkpoints.clip_reference(small=False, seed=0), weights)
    pixels = data / f"images-{images}.npy"
    if not pixels.exists():
        np.save(pixels, vit_checkpoints.random_images(images, (256, 320), seed=0).numpy())
    return weights, pixels


# --------------------------------------------------------------------------- one row, in its own process


def reference_dinov2(weights: Path):  # noqa: ANN201
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(TESTS))
    import vit_checkpoints  # the package's model built as torch.hub builds dinov2_vitl14

    model = vit_checkpoints.dinov2_package_model(small=False)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    model.eval().requires_grad_(False)
    mean = torch.tensor([0.485, 0.456, 0.406]).reshape(1, -1, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).reshape(1, -1, 1, 1)

    def features(batch: torch.Tensor) -> torch.Tensor:  # EDM2 DINOv2Detector.__call__, resize_mode='torch'
        x = F.interpolate(batch.to(torch.float32), size=(224, 224), mode="bicubic", antialias=True)
        x = (x.to(torch.float32) / 255 - mean) / std
        return model(x)

    return features


def reference_clip(weights: Path):  # noqa: ANN201
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from safetensors.torch import load_file
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(
        hidden_size=1024,
        intermediate_size=4096,
        num_hidden_layers=24,
        num_attention_heads=16,
        projection_dim=768,
        image_size=336,
        patch_size=14,
    )
    model = CLIPVisionModelWithProjection(config)
    state = {k: v for k, v in load_file(str(weights)).items() if k.startswith(("vision_model.", "visual_projection."))}
    model.load_state_dict(state, strict=True)
    model.eval()
    processor = CLIPImageProcessor(
        size={"shortest_edge": 336},
        crop_size={"height": 336, "width": 336},
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
    )

    def read(image: np.ndarray) -> np.ndarray:  # CMMD io_util._read_image on an in-memory RGB image
        im = Image.fromarray(image)
        w, h = im.size
        side = min(w, h)
        top, left = (h - side) // 2, (w - side) // 2
        im = im.crop((left, top, left + side, top + side)).resize((336, 336), resample=Image.BICUBIC)
        return np.asarray(im).astype(np.float32)

    @torch.no_grad()
    def features(batch: torch.Tensor) -> torch.Tensor:  # the port's ClipEmbeddingModel.embed
        images = np.stack([read(a) for a in batch.permute(0, 2, 3, 1).numpy()]) / 255.0
        x = F.interpolate(torch.from_numpy(images.transpose(0, 3, 1, 2)), size=(336, 336), mode="bicubic")
        x = x.permute(0, 2, 3, 1).numpy()
        inputs = processor(
            images=x, do_normalize=True, do_center_crop=False, do_resize=False, do_rescale=False, return_tensors="pt"
        )
        embeds = model(**inputs).image_embeds
        return embeds / torch.linalg.norm(embeds, dim=-1, keepdim=True)

    return features


def cmmd_distance(x, y, sigma: float = 10.0) -> float:  # noqa: ANN001
    """The reference's formula (CMMD distance.py) on float32 arrays: full matrices, diagonals included."""
    import numpy as np

    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    gamma = 1 / (2 * sigma**2)
    xx, yy = (x * x).sum(1), (y * y).sum(1)
    k_xx = np.exp(-gamma * (xx[:, None] + xx[None] - 2 * x @ x.T)).mean()
    k_yy = np.exp(-gamma * (yy[:, None] + yy[None] - 2 * y @ y.T)).mean()
    k_xy = np.exp(-gamma * (xx[:, None] + yy[None] - 2 * x @ y.T)).mean()
    return float(1000 * (k_xx + k_yy - 2 * k_xy))


def peak_rss_mib() -> float:
    """This process's peak resident set (``VmHWM``). Not ``ru_maxrss``: Linux carries that across
    ``exec`` from the parent, which had built the random weights (3.4 GB for CLIP)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    started = args.started
    weights, pixels = Path(args.weights), Path(args.pixels)
    images = torch.from_numpy(np.load(pixels))
    t0 = time.perf_counter()
    if args.row == "reference":
        features = reference_dinov2(weights) if args.network == "dinov2" else reference_clip(weights)
    else:
        sys.path.insert(0, str(ROOT / "src"))
        from inception_score.features.clip import build_clip
        from inception_score.features.dinov2 import build_dinov2

        build = build_dinov2 if args.network == "dinov2" else build_clip
        prepare, forward, _ = build(weights, "cpu", args.row, progress=False)

        def features(batch: torch.Tensor) -> torch.Tensor:
            return forward(prepare(batch))

    load_s = time.perf_counter() - t0
    b = args.batch_size
    t0 = time.perf_counter()
    features(images[:b])
    first_s = time.perf_counter() - t0

    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    dim = None
    parts = []
    for start in range(0, len(images), b):
        f = features(images[start : start + b]).to(torch.float64)
        if dim is None:
            dim = f.shape[1]
            sum_x, sum_xx = torch.zeros(dim, dtype=torch.float64), torch.zeros(dim, dim, dtype=torch.float64)
        sum_x += f.sum(0)  # EDM2's sums (FD needs nothing else)
        sum_xx += f.T @ f
        parts.append(f)
    feats = torch.cat(parts)
    if args.network == "clip":
        half = len(feats) // 2
        extra = {"cmmd_halves": cmmd_distance(feats[:half].float().numpy(), feats[half:].float().numpy())}
    else:
        extra = {}
    time_s = time.perf_counter() - t0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    np.save(Path(args.out) / f"features-{args.row}.npy", feats.numpy())
    print(
        json.dumps(
            {
                "row": args.row,
                "load_s": load_s,
                "first_s": first_s,
                "time_s": time_s,
                "cpu_s": (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime),
                "peak_rss_mib": peak_rss_mib(),
                "whole_s": time.time() - started,
                **extra,
            }
        )
    )


# --------------------------------------------------------------------------- the table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--network", choices=("dinov2", "clip"), required=True)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated subset of reference,exact,fast")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "inception-score-vit-bench"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--row", help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    parser.add_argument("--pixels", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    import numpy as np

    rows = [r for r in args.rows.split(",") if r]
    if not set(rows) <= set(ROWS):
        parser.error(f"--rows: got {args.rows!r}, expected some of {', '.join(ROWS)}")
    data = Path(args.data_dir)
    weights, pixels = make_data(args.network, data, args.images)
    best: dict[str, dict] = {}
    out = data / f"out-{args.network}"
    out.mkdir(exist_ok=True)
    for _ in range(args.rounds):
        for row in rows:
            command = [sys.executable, __file__, "--worker", "--network", args.network, "--row", row]
            command += ["--weights", str(weights), "--pixels", str(pixels), "--out", str(out)]
            command += ["--batch-size", str(args.batch_size), "--images", str(args.images)]
            command += ["--started", str(time.time())]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                sys.exit(f"row {row} failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(json.dumps(result), file=sys.stderr)
            if row not in best or result["time_s"] < best[row]["time_s"]:
                best[row] = result

    reference = np.load(out / "features-reference.npy") if "reference" in best else None
    n = args.images
    lines = [
        f"{args.network}: {n} images 256 x 320, batch {args.batch_size}, {cpu_name()}, torch threads "
        f"{os.environ.get('OMP_NUM_THREADS', 'default')}, best of {args.rounds} round(s)",
        "",
        "| row | load s | first call s | time s | images/s | CPU s | whole s | whole images/s | x reference "
        "| peak RSS MiB | max abs diff / max abs ref |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = best[row]
        ratio = best["reference"]["time_s"] / r["time_s"] if "reference" in best else float("nan")
        if reference is not None:
            feats = np.load(out / f"features-{row}.npy")
            diff = f"{np.abs(feats - reference).max() / np.abs(reference).max():.2e}"
        else:
            diff = "-"
        lines.append(
            f"| {row} | {r['load_s']:.1f} | {r['first_s']:.1f} | {r['time_s']:.1f} | {n / r['time_s']:.2f} "
            f"| {r['cpu_s']:.1f} | {r['whole_s']:.1f} | {n / r['whole_s']:.2f} | {ratio:.2f} "
            f"| {r['peak_rss_mib']:.0f} | {diff} |"
        )
    if args.network == "clip":
        lines.append("")
        halves = ", ".join(f"{r} {best[r]['cmmd_halves']:.6f}" for r in rows)
        lines.append(f"CMMD between the two halves of the set: {halves}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
