"""FD_DINOv2 and CMMD end to end with the real network code on tiny random checkpoints.

The DINOv2 and CLIP files of features/ with small configurations of the same code, loaded from
random checkpoints in the official layouts (tests/vit_checkpoints.py): ``stats --with-features``
gives the reference code's per-image vectors (facebookresearch's model with EDM2's preprocessing;
transformers' CLIP with CMMD's), and ``compute`` gives FD_DINOv2 and CMMD equal to the formulas on
those vectors, with shards + merge equal to one run and the metric object equal to ``compute()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import inception_score
from inception_score import InceptionScore
from inception_score.cli import main
from inception_score.features.extractor import release_network
from inception_score.metrics.frechet import frechet_distance

from .conftest import write_images
from .test_feature_spaces import reference_cmmd
from .vit_checkpoints import (
    clip_reference,
    dinov2_reference,
    edm2_features,
    random_images,
    save_clip_safetensors,
    save_dinov2_checkpoint,
    transformers_embeddings,
)

pytest.importorskip("dinov2")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("tiny-vits")
    clip = clip_reference(small=True)
    samples, real = random_images(12, (40, 56), seed=1), random_images(10, (48, 48), seed=2)
    write_images(root / "samples", samples.permute(0, 2, 3, 1).numpy())
    write_images(root / "real", real.permute(0, 2, 3, 1).numpy())
    release_network()
    yield {
        "dinov2": save_dinov2_checkpoint(root / "dinov2_vitl14_pretrain.pth", small=True),
        "clip": save_clip_safetensors(clip, root / "model.safetensors"),
        "clip_model": clip, "samples": samples, "real": real, "root": root,
    }  # fmt: skip
    release_network()


def hwc(images: torch.Tensor) -> list[np.ndarray]:
    return [im.permute(1, 2, 0).numpy() for im in images]


def fd(x: torch.Tensor, y: torch.Tensor) -> float:
    a, b = x.double().numpy(), y.double().numpy()
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


@pytest.mark.parametrize("resize", ["torch", "pil"])
def test_stats_and_compute_equal_the_reference_code(tiny, stand_in, checkpoint_path, resize, capsys) -> None:
    root = tiny["root"]
    out = root / f"ref-{resize}.npz"
    code = main(["stats", str(root / "real"), "-o", str(out), "--metrics", "fd_dinov2,cmmd", "--with-features",
                 "--weights", str(checkpoint_path), "--dinov2-weights", str(tiny["dinov2"]), "--dinov2-resize",
                 resize, "--clip-weights", str(tiny["clip"]), "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    dino = dinov2_reference(small=True)
    ref_dino, sample_dino = (edm2_features(dino, tiny[k], resize) for k in ("real", "samples"))
    ref_clip, sample_clip = (transformers_embeddings(tiny["clip_model"], hwc(tiny[k])) for k in ("real", "samples"))
    with np.load(out) as npz:  # per-image vectors within 1e-4 of the largest
        for key, expected in (("features_dinov2", ref_dino), ("features_clip", ref_clip)):
            got = torch.from_numpy(npz[key])
            assert float((got - expected).abs().max()) <= 1e-4 * float(expected.abs().max()), key
    result = inception_score.compute(
        str(root / "samples"), network=stand_in, ref=str(out), metrics="fd_dinov2,cmmd", splits=1, bootstrap=0,
        dinov2_weights=str(tiny["dinov2"]), dinov2_resize=resize, clip_weights=str(tiny["clip"]), progress=False,
    )  # fmt: skip
    assert result.fd_dinov2 == pytest.approx(fd(sample_dino, ref_dino), rel=5e-5)
    expected_cmmd = reference_cmmd(sample_clip.numpy(), ref_clip.numpy(), np.float64)
    assert expected_cmmd > 1e-2  # spread embeddings: far above float32 rounding
    assert result.cmmd == pytest.approx(expected_cmmd, rel=1e-3)
    assert result.dinov2_resize == resize


def test_shards_merge_and_metric_object_equal_one_run(tiny, checkpoint_path, tmp_path: Path) -> None:
    root = tiny["root"]
    common = {"ref": str(root / "real"), "metrics": "fd_dinov2,kd_dinov2,cmmd", "weights": str(checkpoint_path),
              "dinov2_weights": str(tiny["dinov2"]), "clip_weights": str(tiny["clip"]), "splits": 1,
              "bootstrap": 0, "kid_subsets": 3, "kid_subset_size": 5, "batch_size": 5}  # fmt: skip
    whole = inception_score.compute(str(root / "samples"), progress=False, **common)
    parts = [tmp_path / f"s{i}.pt" for i in range(2)]
    for i, path in enumerate(parts):
        inception_score.compute(str(root / "samples"), shard=(i, 2), save_stats=str(path), progress=False, **common)
    merged = inception_score.merge_stats([str(p) for p in parts])
    metric = InceptionScore(image_range=None, **{k: v for k, v in common.items() if k != "batch_size"})
    images = tiny["samples"]
    metric.update(images[:7])
    metric.update(images[7:])
    from_metric = metric.compute()
    for name in ("fd_dinov2", "kd_dinov2_mean", "cmmd"):
        assert getattr(merged, name) == pytest.approx(getattr(whole, name), rel=1e-6), name
        assert getattr(from_metric, name) == pytest.approx(getattr(whole, name), rel=1e-5), name
